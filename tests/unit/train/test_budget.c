/* Unit tests of the time-budget plan: one size filling the budget, the last stage's share and the
 * equal shares of the others, the leftover given to the largest size it pays for, a stage dropped
 * when its share holds no epoch, @BATCH kept, and budgets or schedules that cannot be planned. */
#include <string.h>

#include "crescendo/budget.h"
#include "testing.h"

static cr_schedule parse(const char *spec) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse(spec, 1, &s));
    return s;
}

static cr_stage_cost cost(int resolution, double train, double val, double start) {
    return (cr_stage_cost){.resolution = resolution, .batch_size = 32, .train_seconds = train,
                           .val_seconds = val, .start_seconds = start};
}

static void check_plan(const char *sizes, const cr_stage_cost *costs, double seconds,
                       double last_share, const char *want, double want_seconds) {
    cr_schedule in = parse(sizes), out;
    cr_budget_recipe recipe = {.last_share = last_share};
    double planned = -1.0;
    CHECK_OK(cr_budget_schedule(&in, costs, seconds, &recipe, &out, &planned));
    char text[128];
    cr_schedule_format(&out, text, sizeof text);
    CHECK(strcmp(text, want) == 0);
    if (strcmp(text, want) != 0) fprintf(stderr, "  planned %s, want %s\n", text, want);
    CHECK_NEAR(planned, want_seconds, 1e-9);
    CHECK(planned <= seconds);
}

/* (100 - 2) / (9 + 1): 9 epochs, 92 s with the start */
static void test_one_size_takes_every_epoch_that_fits(void) {
    cr_stage_cost c[] = {cost(128, 9, 1, 2)};
    check_plan("128:1", c, 100, 0.5, "128:9", 92);
}

/* 98 s after the starts: 128 px gets 49 s (4 epochs, 40 s), 64 px the other 58 (14, 56 s) */
static void test_the_last_size_gets_its_share_the_others_the_rest(void) {
    cr_stage_cost c[] = {cost(64, 3, 1, 1), cost(128, 9, 1, 1)};
    check_plan("64:1,128:1", c, 100, 0.5, "64:14,128:4", 98);
    /* a quarter: 128 px 2 epochs (20 s), 64 px 19 (76 s) */
    check_plan("64:1,128:1", c, 100, 0.25, "64:19,128:2", 98);
    /* three sizes: 96 px and 64 px share the 58 s left by 128 px equally, 29 s each */
    cr_stage_cost three[] = {cost(64, 3, 1, 1), cost(96, 5, 1, 1), cost(128, 9, 1, 1)};
    check_plan("64:1,96:1,128:1", three, 100, 0.5, "64:8,96:4,128:4", 99);
}

/* 128 px: 5 epochs (50 s); 64 px: one of 30 s; the 20 s left are two more at 128 px */
static void test_the_leftover_goes_to_the_largest_size_it_pays_for(void) {
    cr_stage_cost c[] = {cost(64, 25, 5, 0), cost(128, 8, 2, 0)};
    check_plan("64:1,128:1", c, 100, 0.5, "64:1,128:7", 100);
}

/* 64 px's 50 s hold none of its 60 s epochs: it is dropped, its start given back, and the
 * leftover (55 s) buys five more epochs at 128 px */
static void test_a_stage_without_an_epoch_is_dropped(void) {
    cr_stage_cost c[] = {cost(64, 50, 10, 5), cost(128, 9, 1, 5)};
    check_plan("64:1,128:1", c, 100, 0.5, "128:9", 95);
}

static void test_stage_batches_are_kept(void) {
    cr_stage_cost c[] = {cost(64, 3, 1, 0), cost(128, 9, 1, 0)};
    check_plan("64:1@128,128:1@32", c, 100, 0.5, "64:12@128,128:5@32", 98);
}

static void test_what_cannot_be_planned_fails_clearly(void) {
    cr_stage_cost c[] = {cost(64, 3, 1, 1), cost(128, 9, 1, 1)};
    cr_schedule in = parse("64:1,128:1"), out;
    cr_budget_recipe recipe = {.last_share = 0.5};
    double planned;
    CHECK_FAILS(cr_budget_schedule(&in, c, 11.5, &recipe, &out, &planned), CR_STATUS_INVALID,
                "holds no epoch at 128 px");
    cr_schedule automatic = parse("auto:64,128");
    CHECK_FAILS(cr_budget_schedule(&automatic, c, 100, &recipe, &out, &planned),
                CR_STATUS_INVALID, "auto schedule");
    recipe.last_share = 0.0;
    CHECK_FAILS(cr_budget_schedule(&in, c, 100, &recipe, &out, &planned), CR_STATUS_INVALID,
                "share");
}

int main(void) {
    test_one_size_takes_every_epoch_that_fits();
    test_the_last_size_gets_its_share_the_others_the_rest();
    test_the_leftover_goes_to_the_largest_size_it_pays_for();
    test_a_stage_without_an_epoch_is_dropped();
    test_stage_batches_are_kept();
    test_what_cannot_be_planned_fails_clearly();
    return cr_test_summary("budget");
}
