/* Unit tests of the resolution schedule's parser: every accepted form (explicit, double, ramp,
 * auto, one size), the text form round trip, and the errors a user gets for a bad spec. */
#include <stdio.h>
#include <string.h>

#include "crescendo/progressive.h"
#include "testing.h"

static void test_explicit_stages(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("64:10,128:5@32,256:1", 0, &s));
    CHECK(s.count == 3);
    CHECK(s.stages[0].resolution == 64 && s.stages[0].epochs == 10 && s.stages[0].batch_size == 0);
    CHECK(s.stages[1].resolution == 128 && s.stages[1].epochs == 5 && s.stages[1].batch_size == 32);
    CHECK(cr_schedule_total_epochs(&s) == 16 && !s.automatic);
    char text[128];
    cr_schedule_format(&s, text, sizeof text);
    CHECK(strcmp(text, "64:10,128:5@32,256:1") == 0);
}

static void test_stages_without_epochs_take_the_default(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("28", 7, &s));
    CHECK(s.count == 1 && s.stages[0].resolution == 28 && s.stages[0].epochs == 7);
    CHECK_FAILS(cr_schedule_parse("28", 0, &s), CR_STATUS_INVALID, "number of epochs");
    CHECK_OK(cr_schedule_parse("64,96:2,128@32", 7, &s));
    CHECK(s.count == 3 && s.stages[0].epochs == 7 && s.stages[1].epochs == 2);
    CHECK(s.stages[2].resolution == 128 && s.stages[2].epochs == 7 && s.stages[2].batch_size == 32);
}

static void test_doubling(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("double:64-512/10", 0, &s));
    CHECK(s.count == 4 && s.stages[3].resolution == 512 && cr_schedule_total_epochs(&s) == 40);
    CHECK_OK(cr_schedule_parse("double:64-200/3", 0, &s)); /* the last stage is the end size */
    CHECK(s.count == 3 && s.stages[2].resolution == 200);
}

/* Expects s to format as `want`. */
static void check_stages(const cr_schedule *s, const char *want) {
    char text[256];
    cr_schedule_format(s, text, sizeof text);
    if (strcmp(text, want) != 0) printf("  schedule %s, expected %s\n", text, want);
    CHECK(strcmp(text, want) == 0);
}

/* The default schedule: from 64 to the images' size in equal steps of at most 1.5x, multiples of
 * 8 between, the extra epochs at the end. */
static void test_default_growing(void) {
    cr_schedule s = cr_schedule_growing(64, 128, 10);
    check_stages(&s, "64:3,88:3,128:4"); /* 64 * 2^(1/2) = 90.5 */
    s = cr_schedule_growing(64, 256, 10);
    check_stages(&s, "64:2,88:2,128:2,184:2,256:2"); /* ratio 4^(1/4) = 1.41 */
    s = cr_schedule_growing(64, 256, 11);
    check_stages(&s, "64:2,88:2,128:2,184:2,256:3");
    s = cr_schedule_growing(64, 112, 9);
    check_stages(&s, "64:3,88:3,112:3");
    s = cr_schedule_growing(64, 96, 3); /* exactly 1.5x: one step */
    check_stages(&s, "64:1,96:2");
    s = cr_schedule_growing(64, 512, 2); /* fewer epochs than sizes: the largest ones */
    check_stages(&s, "360:1,512:1");
    s = cr_schedule_growing(64, 28, 5); /* images smaller than the start: their own size */
    check_stages(&s, "28:5");
    s = cr_schedule_growing(64, 64, 4);
    check_stages(&s, "64:4");
}

static void test_ramp(void) {
    cr_schedule s;
    /* 160 + 32 (e - 10) / 15 reaches 176, the midpoint, at e = 17.5: 192 from epoch 18 on. */
    CHECK_OK(cr_schedule_parse("ramp:160-192@10-25/32", 30, &s));
    check_stages(&s, "160:17,192:13");
    CHECK_OK(cr_schedule_parse("ramp:160-192@10-25", 30, &s)); /* 32 unless told */
    check_stages(&s, "160:17,192:13");
    /* /16: 176 from 160 + 32 (e - 10) / 15 >= 168 (e >= 13.75), 192 from >= 184 (e >= 21.25) */
    CHECK_OK(cr_schedule_parse("ramp:160-192@10-25/16", 30, &s));
    check_stages(&s, "160:13,176:8,192:9");
    /* epoch 1 is exactly halfway, 48: halves go up */
    CHECK_OK(cr_schedule_parse("ramp:32-64@0-2/32", 3, &s));
    check_stages(&s, "64:3");
    /* ends off the multiple: 140 + 60 e / 4 is 155 at e = 1, whose nearest multiple of 64, 128,
     * is below the start and becomes 140; epochs 2 and 3 round to 192, epoch 4 is the end, 200 */
    CHECK_OK(cr_schedule_parse("ramp:140-200@0-4/64", 4, &s));
    check_stages(&s, "140:1,192:2,200:1");
    CHECK_FAILS(cr_schedule_parse("ramp:160-192@10-25", 20, &s), CR_STATUS_INVALID,
                "raise --epochs");
    CHECK_FAILS(cr_schedule_parse("ramp:160-192@25-10", 30, &s), CR_STATUS_INVALID,
                "last epoch");
    CHECK_FAILS(cr_schedule_parse("ramp:192-160@1-5", 30, &s), CR_STATUS_INVALID,
                "end resolution");
    CHECK_FAILS(cr_schedule_parse("ramp:160-192/32", 30, &s), CR_STATUS_INVALID, "'@'");
    CHECK_FAILS(cr_schedule_parse("ramp:8-8000@0-1000/1", 1000, &s), CR_STATUS_INVALID,
                "larger multiple");
}

static void test_auto(void) {
    cr_schedule s;
    CHECK_OK(cr_schedule_parse("auto:64,128@32,256", 0, &s));
    CHECK(s.automatic && s.count == 3 && s.stages[1].batch_size == 32 && s.stages[2].epochs == 0);
    check_stages(&s, "auto:64,128@32,256");
    CHECK_OK(cr_schedule_parse("auto:64", 0, &s));
    CHECK(s.automatic && s.count == 1);
    CHECK_FAILS(cr_schedule_parse("auto:64:10,128", 5, &s), CR_STATUS_INVALID, "without epochs");
    CHECK_FAILS(cr_schedule_parse("auto:64,", 5, &s), CR_STATUS_INVALID, "comma");
    CHECK_FAILS(cr_schedule_parse("auto:", 5, &s), CR_STATUS_INVALID, "resolution");
    CHECK_FAILS(cr_schedule_parse("auto:64;128", 5, &s), CR_STATUS_INVALID, "unexpected");
}

static void test_errors_point_at_the_problem(void) {
    cr_schedule s;
    CHECK_FAILS(cr_schedule_parse("", 5, &s), CR_STATUS_INVALID, "empty");
    CHECK_FAILS(cr_schedule_parse("64:10,", 5, &s), CR_STATUS_INVALID, "comma");
    CHECK_FAILS(cr_schedule_parse("64:x", 5, &s), CR_STATUS_INVALID, "number of epochs");
    CHECK_FAILS(cr_schedule_parse("4:10", 5, &s), CR_STATUS_INVALID, "resolution");
    CHECK_FAILS(cr_schedule_parse("64:10,128", 0, &s), CR_STATUS_INVALID, "number of epochs");
    CHECK_FAILS(cr_schedule_parse("double:128-64/2", 5, &s), CR_STATUS_INVALID, "end resolution");
    CHECK_FAILS(cr_schedule_parse("64:10;128:2", 5, &s), CR_STATUS_INVALID, "unexpected");
    CHECK_FAILS(cr_schedule_parse("cosine:64-128", 5, &s), CR_STATUS_INVALID,
                "unknown form 'cosine'");
}

int main(void) {
    test_explicit_stages();
    test_stages_without_epochs_take_the_default();
    test_doubling();
    test_default_growing();
    test_ramp();
    test_auto();
    test_errors_point_at_the_problem();
    return cr_test_summary("progressive");
}
