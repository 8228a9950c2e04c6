/* Unit tests of the progress bar, driven by a fake clock into a memory stream: the throttle, the
 * rate and ETA arithmetic, redrawing in place, and the single summary line off a terminal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/report.h"
#include "testing.h"

static double fake_now;
static double fake_clock(void) { return fake_now; }

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static void check_contains(const char *text, const char *needle, int line) {
    cr_test_checks++;
    if (!strstr(text, needle))
        cr_test_fail(__FILE__, line, "expected \"%s\" in:\n%s", needle, text);
}

/* A progress over a memory stream at clock 0, as a test sees it. */
static void begin(cr_progress *p, FILE *f, cr_progress_style style, int64_t total) {
    cr_progress_begin(p, f, "train 64px", total);
    p->style = style;
    p->width = 80;
    p->clock = fake_clock;
    fake_now = 0;
    p->start = fake_now;
}

static void test_plain_prints_one_summary_line(void) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_progress p;
    cr_progress_begin(&p, f, "train 64px", 10);
    CHECK(p.style == CR_PROGRESS_PLAIN); /* a memory stream is no terminal */
    begin(&p, f, CR_PROGRESS_PLAIN, 10);
    for (int i = 1; i <= 10; i++) {
        fake_now = 6.2 * i;
        cr_progress_update(&p, i, 100 * i, 0.401, 0.856);
    }
    fflush(f);
    CHECK(size == 0); /* nothing while the epoch runs */
    cr_progress_end(&p);
    fclose(f);
    /* 1000 images in 62 s: 16.1 img/s; 62 s is 1:02 */
    check_contains(text, "train 64px  10/10  loss 0.401  acc 85.6%  16 img/s  1:02\n", __LINE__);
    CHECK(count_char(text, '\n') == 1 && text[0] == 't');
    free(text);
}

static void test_bar_redraws_in_place_throttled(void) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_progress p;
    begin(&p, f, CR_PROGRESS_BAR, 10);
    fake_now = 1.0;
    cr_progress_update(&p, 1, 128, 0.5, 0.5);  /* drawn: first update */
    fake_now = 1.05;
    cr_progress_update(&p, 2, 256, 0.5, 0.5);  /* 50 ms later: skipped */
    fake_now = 2.0;
    cr_progress_update(&p, 3, 384, NAN, 0.5);  /* drawn, loss left out */
    fake_now = 2.01;
    cr_progress_update(&p, 10, 1280, 0.25, 0.75); /* the last step is always drawn */
    fflush(f);
    char *drawn = strdup(text);
    cr_progress_end(&p);
    fclose(f);

    CHECK(count_char(drawn, '\r') == 3 && !strchr(drawn, '\n'));
    /* step 1 at 1 s: 128 img/s since begin, 9 steps left at 1 s each */
    check_contains(drawn, "\rtrain 64px  [", __LINE__);
    check_contains(drawn, "] 1/10  loss 0.500  acc 50.0%  128 img/s  ETA 0:09", __LINE__);
    /* step 3 at 2 s: measured from the first update, 256 images in 1 s, 2 steps in 1 s, so the
     * 7 steps left take 3.5 s, shown rounded */
    check_contains(drawn, "] 3/10  acc 50.0%  256 img/s  ETA 0:04", __LINE__);
    check_contains(drawn, "] 10/10  loss 0.250  acc 75.0%", __LINE__);
    check_contains(drawn, "ETA 0:00", __LINE__);
    /* 80 columns leave the bar its least, 10 cells; 90 columns, 19 (90 - 1 - 10 label - 4
     * brackets and spaces - 56 for the widest " 10/10  loss ...  ETA 0:00:00"); 200, at most 30 */
    check_contains(drawn, "[#.........] 1/10", __LINE__);
    check_contains(drawn, "[###.......] 3/10", __LINE__);
    check_contains(drawn, "[##########] 10/10", __LINE__);
    /* the end blanks the bar and leaves the summary line */
    const char *tail = text + strlen(drawn);
    CHECK(tail[0] == '\r' && tail[strlen(tail) - 1] == '\n');
    check_contains(tail, "\rtrain 64px  10/10  loss 0.250  acc 75.0%  637 img/s  0:02\n", __LINE__);
    free(drawn);
    free(text);

    static const struct {
        int width;
        const char *bar;
    } widths[] = {{90, "[#########..........] 5/10"},
                  {200, "[###############...............] 5/10"}};
    for (int i = 0; i < 2; i++) {
        f = open_memstream(&text, &size);
        begin(&p, f, CR_PROGRESS_BAR, 10);
        p.width = widths[i].width;
        fake_now = 1;
        cr_progress_update(&p, 5, 5, 0.1, 0.1);
        fclose(f);
        check_contains(text, widths[i].bar, __LINE__);
        free(text);
    }
}

static void test_wide_values_and_long_runs(void) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_progress p;
    begin(&p, f, CR_PROGRESS_BAR, 3);
    fake_now = 1;
    cr_progress_update(&p, 1, 1, 1e300, 0.1);  /* a diverged loss is printed, cut, not overrun */
    fake_now = 3725;
    cr_progress_update(&p, 3, 3, 1e300, 0.1);
    cr_progress_end(&p);
    fclose(f);
    check_contains(text, "  1:02:05\n", __LINE__);
    free(text);

    /* a NULL stream is quiet */
    cr_progress_begin(&p, NULL, "val", 2);
    CHECK(p.style == CR_PROGRESS_QUIET);
    cr_progress_update(&p, 1, 1, 0, 0);
    cr_progress_end(&p);
}

int main(void) {
    test_plain_prints_one_summary_line();
    test_bar_redraws_in_place_throttled();
    test_wide_values_and_long_runs();
    return cr_test_summary("progress");
}
