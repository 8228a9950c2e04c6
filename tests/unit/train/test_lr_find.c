/* The learning-rate finder's suggestion rule (cr_lr_find_valley): on sweeps of known shape, the
 * middle of the longest fall of the loss, not its lowest point nor a short early dip. */
#include "crescendo/lr_find.h"
#include "testing.h"

enum { N = 100 };

int main(void) {
    double loss[N];
    /* flat until 30, falling until 80, then running away */
    for (int i = 0; i < N; i++)
        loss[i] = i < 30 ? 2.0 : i < 80 ? 2.0 - 0.03 * (i - 30) : 0.5 + 0.2 * (i - 80);
    int at = cr_lr_find_valley(loss, N);
    CHECK(at >= 50 && at <= 60); /* the fall spans 30..79: its middle */

    /* a short dip early, then the long fall: the long one wins */
    for (int i = 0; i < N; i++)
        loss[i] = i < 5 ? 2.0 - 0.1 * i : i < 40 ? 2.2 : i < 90 ? 2.2 - 0.02 * (i - 40) : 5.0;
    at = cr_lr_find_valley(loss, N);
    CHECK(at >= 60 && at <= 70);

    /* noise on the fall does not cut it short: a falling subsequence skips the bumps */
    for (int i = 0; i < N; i++) loss[i] = 3.0 - 0.02 * i + (i % 3 == 0 ? 0.015 : 0.0);
    at = cr_lr_find_valley(loss, N);
    CHECK(at >= 40 && at <= 60);

    CHECK(cr_lr_find_valley(loss, 1) == 0);
    CHECK(cr_lr_find_valley(loss, 0) == 0);
    return cr_test_summary("lr_find");
}
