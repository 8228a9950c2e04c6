/* `crescendo lr-find`: train's options, a learning-rate sweep instead of the run, and what it found
 * drawn as a text plot of the smoothed loss against the rate (logarithmic) with the suggestion. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "crescendo/lr_find.h"

enum { PLOT_ROWS = 12, PLOT_COLUMNS = 64 };

/* The loss against log10(rate), the suggestion's column marked; losses above 1.5 times the first
 * are drawn on the top row. */
static void plot(const cr_lr_find_result *r) {
    int usable = r->diverged && r->count > 1 ? r->count - 1 : r->count;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < usable; i++) lo = fmin(lo, r->loss[i]), hi = fmax(hi, r->loss[i]);
    hi = fmin(hi, 1.5 * r->loss[0]); /* the runaway's climb would flatten the rest */
    if (!(hi > lo)) hi = lo + 1.0;
    double x0 = log10(r->lr[0]), x1 = log10(r->lr[usable - 1]);
    if (!(x1 > x0)) x1 = x0 + 1.0;
    char grid[PLOT_ROWS][PLOT_COLUMNS + 1];
    for (int y = 0; y < PLOT_ROWS; y++) {
        memset(grid[y], ' ', PLOT_COLUMNS);
        grid[y][PLOT_COLUMNS] = '\0';
    }
    int mark = (int)lround((log10(r->suggestion) - x0) / (x1 - x0) * (PLOT_COLUMNS - 1));
    for (int y = 0; y < PLOT_ROWS; y++) grid[y][mark] = '|';
    for (int i = 0; i < usable; i++) {
        int x = (int)lround((log10(r->lr[i]) - x0) / (x1 - x0) * (PLOT_COLUMNS - 1));
        int y = (int)lround(fmax(0.0, (hi - r->loss[i]) / (hi - lo)) * (PLOT_ROWS - 1));
        grid[y][x] = '*';
    }
    for (int y = 0; y < PLOT_ROWS; y++)
        printf("%8.3f %s\n", hi - (hi - lo) * y / (PLOT_ROWS - 1), grid[y]);
    printf("%8s %-*.0e%*.0e\n", "lr", PLOT_COLUMNS / 2, r->lr[0], PLOT_COLUMNS / 2,
           r->lr[usable - 1]);
}

cr_status cr_cli_lr_find(cr_backend *be, const cr_train_config *c) {
    cr_lr_find_result r;
    CR_TRY(cr_lr_find(be, c, &(cr_lr_find_config){0}, &r));
    printf("learning-rate sweep of %s: %d steps from %.0e%s\n", c->model, r.count, r.lr[0],
           r.diverged ? ", stopped when the loss ran away" : "");
    plot(&r);
    printf("suggested --lr %.2g (the middle of the longest fall of the smoothed loss, at step %d)"
           "\n", r.suggestion, r.suggested + 1);
    return CR_STATUS_OK;
}

int cr_cmd_lr_find(int argc, char **argv) { return cr_cli_train_command(argc, argv, true); }
