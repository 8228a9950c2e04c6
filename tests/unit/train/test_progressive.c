/* Unit tests of the resolution schedule: every accepted form, the stage of an epoch, the text form
 * round trip, and the errors a user gets for a bad spec. */
#include <string.h>

#include "crescendo/progressive.h"
#include "testing.h"

static void test_explicit_stages(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("64:10,128:5@32,256:1", 0, &s));
    CHECK(s.count == 3);
    CHECK(s.stages[0].resolution == 64 && s.stages[0].epochs == 10 && s.stages[0].batch_size == 0);
    CHECK(s.stages[1].resolution == 128 && s.stages[1].epochs == 5 && s.stages[1].batch_size == 32);
    CHECK(cr_schedule_total_epochs(&s) == 16);
    CHECK(cr_schedule_stage_of(&s, 0) == 0 && cr_schedule_stage_of(&s, 9) == 0);
    CHECK(cr_schedule_stage_of(&s, 10) == 1 && cr_schedule_stage_of(&s, 14) == 1);
    CHECK(cr_schedule_stage_of(&s, 15) == 2 && cr_schedule_stage_of(&s, 99) == 2);
    char text[128];
    cr_schedule_format(&s, text, sizeof text);
    CHECK(strcmp(text, "64:10,128:5@32,256:1") == 0);
}

static void test_single_resolution_takes_default_epochs(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("28", 7, &s));
    CHECK(s.count == 1 && s.stages[0].resolution == 28 && s.stages[0].epochs == 7);
    CHECK_FAILS(cr_schedule_parse("28", 0, &s), CR_STATUS_INVALID, "number of epochs");
}

static void test_doubling(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("double:64-512/10", 0, &s));
    CHECK(s.count == 4 && s.stages[3].resolution == 512 && cr_schedule_total_epochs(&s) == 40);
    CHECK_OK(cr_schedule_parse("double:64-200/3", 0, &s)); /* the last stage is the end size */
    CHECK(s.count == 3 && s.stages[2].resolution == 200);
}

static void test_errors_point_at_the_problem(void) {
    cr_schedule s;
    CHECK_FAILS(cr_schedule_parse("", 5, &s), CR_STATUS_INVALID, "empty");
    CHECK_FAILS(cr_schedule_parse("64:10,", 5, &s), CR_STATUS_INVALID, "comma");
    CHECK_FAILS(cr_schedule_parse("64:x", 5, &s), CR_STATUS_INVALID, "number of epochs");
    CHECK_FAILS(cr_schedule_parse("4:10", 5, &s), CR_STATUS_INVALID, "resolution");
    CHECK_FAILS(cr_schedule_parse("64:10,128", 5, &s), CR_STATUS_INVALID, "RES:EPOCHS");
    CHECK_FAILS(cr_schedule_parse("double:128-64/2", 5, &s), CR_STATUS_INVALID, "end resolution");
    CHECK_FAILS(cr_schedule_parse("64:10;128:2", 5, &s), CR_STATUS_INVALID, "unexpected");
}

int main(void) {
    test_explicit_stages();
    test_single_resolution_takes_default_epochs();
    test_doubling();
    test_errors_point_at_the_problem();
    return cr_test_summary("progressive");
}
