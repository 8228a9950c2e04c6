/* Unit tests of the epoch metrics: confusion counts, top-1 / top-k with ties and NaN, precision,
 * recall and F1, the most-confused pairs, the CSV and the console table. Expectations are worked
 * out by hand in the comments next to them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crescendo/metrics.h"
#include "testing.h"

/* A row of K scores whose largest is class `top` (logits: any scale will do). */
static void put_row(float *row, int k, int top) {
    for (int c = 0; c < k; c++) row[c] = -0.25f * (float)c;
    row[top] = 3.0f;
}

/* Nine samples over cat, dog, bird; (label -> predicted):
 *   cat: 0->0 0->0 0->1          row [2 1 0]  support 3
 *   dog: 1->1 1->0 1->2 1->0     row [2 1 1]  support 4
 *  bird: 2->2 2->1               row [0 1 1]  support 2
 * column sums 4, 3, 2. */
static cr_metrics *three_class_example(void) {
    static const char *names[] = {"cat", "dog", "bird"};
    static const int32_t labels[9] = {0, 0, 0, 1, 1, 1, 1, 2, 2};
    static const int predicted[9] = {0, 0, 1, 1, 0, 2, 0, 2, 1};
    float scores[9 * 3]; /* (9, 3) */
    for (int i = 0; i < 9; i++) put_row(scores + 3 * i, 3, predicted[i]);
    cr_metrics *m = NULL;
    CHECK_OK(cr_metrics_create(&m, 3, names));
    /* two batches, 4 then 5 samples, with mean losses 0.5 and 2.0 */
    CHECK_OK(cr_metrics_add(m, scores, labels, 4));
    cr_metrics_add_loss(m, 0.5, 4);
    CHECK_OK(cr_metrics_add(m, scores + 4 * 3, labels + 4, 5));
    cr_metrics_add_loss(m, 2.0, 5);
    return m;
}

static void test_confusion_and_per_class(void) {
    cr_metrics *m = three_class_example();
    static const int64_t want[3][3] = {{2, 1, 0}, {2, 1, 1}, {0, 1, 1}};
    for (int t = 0; t < 3; t++)
        for (int p = 0; p < 3; p++) CHECK(cr_metrics_count(m, t, p) == want[t][p]);

    cr_metrics_summary s = cr_metrics_summarize(m);
    CHECK(s.count == 9 && s.k == 3);
    CHECK_NEAR(s.top1, 4.0 / 9.0, 1e-12);
    CHECK_NEAR(s.topk, 1.0, 1e-12);           /* K = 3 < 5: top-3 holds every label */
    CHECK_NEAR(s.loss, (0.5 * 4 + 2.0 * 5) / 9.0, 1e-12);
    /* F1: cat P 2/4 R 2/3 -> 4/7; dog P 1/3 R 1/4 -> 2/7; bird 1/2 1/2 -> 1/2; mean 19/42 */
    CHECK_NEAR(s.macro_f1, 19.0 / 42.0, 1e-12);

    cr_class_stats cat = cr_metrics_class_stats(m, 0), dog = cr_metrics_class_stats(m, 1);
    CHECK(cat.support == 3 && cat.predicted == 4 && cat.correct == 2);
    CHECK_NEAR(cat.precision, 0.5, 1e-12);
    CHECK_NEAR(cat.recall, 2.0 / 3.0, 1e-12);
    CHECK_NEAR(cat.f1, 4.0 / 7.0, 1e-12);
    CHECK(dog.support == 4 && dog.predicted == 3 && dog.correct == 1);
    CHECK_NEAR(dog.precision, 1.0 / 3.0, 1e-12);
    CHECK_NEAR(dog.recall, 0.25, 1e-12);
    CHECK_NEAR(dog.f1, 2.0 / 7.0, 1e-12);

    /* dog->cat twice, then the three single confusions in (true, predicted) order */
    cr_confused_pair pairs[8];
    CHECK(cr_metrics_most_confused(m, pairs, 8) == 4);
    CHECK(pairs[0].true_class == 1 && pairs[0].predicted_class == 0 && pairs[0].count == 2);
    CHECK(pairs[1].true_class == 0 && pairs[1].predicted_class == 1 && pairs[1].count == 1);
    CHECK(pairs[2].true_class == 1 && pairs[2].predicted_class == 2);
    CHECK(pairs[3].true_class == 2 && pairs[3].predicted_class == 1);
    /* a short output keeps the best ones */
    CHECK(cr_metrics_most_confused(m, pairs, 2) == 2);
    CHECK(pairs[0].count == 2 && pairs[1].true_class == 0 && pairs[1].predicted_class == 1);

    cr_metrics_reset(m);
    s = cr_metrics_summarize(m);
    CHECK(s.count == 0 && s.top1 == 0 && isnan(s.loss) && s.macro_f1 == 0);
    CHECK(cr_metrics_count(m, 1, 0) == 0 && cr_metrics_most_confused(m, pairs, 8) == 0);
    cr_metrics_destroy(m);
}

static void test_topk_ranks_ties_and_nan(void) {
    cr_metrics *m = NULL;
    CHECK_OK(cr_metrics_create(&m, 7, NULL));
    CHECK(strcmp(cr_metrics_class_name(m, 6), "6") == 0);
    float scores[6 * 7] = {
        7, 6, 5, 4, 3, 2, 1, /* label 4: 5th place, a top-5 hit */
        7, 6, 5, 4, 3, 2, 1, /* label 5: 6th place, a miss */
        0, 0, 0, 0, 0, 0, 0, /* all tied, label 4: the lower index wins, 5th place, a hit */
        0, 0, 0, 0, 0, 0, 0, /* all tied, label 0: first place, predicted 0, top-1 hit */
        1, 9, 9, 9, 9, 9, 9, /* label 6 tied with five classes of lower index: 6th, a miss */
        1, 2, 3, 4, 5, 6, 0, /* label 1 and one NaN below: NaN ranks first, 6 ahead: a miss */
    };
    scores[5 * 7 + 6] = NAN;
    int32_t labels[6] = {4, 5, 4, 0, 6, 1};
    CHECK_OK(cr_metrics_add(m, scores, labels, 6));
    cr_metrics_summary s = cr_metrics_summarize(m);
    CHECK(s.k == 5);
    CHECK_NEAR(s.top1, 1.0 / 6.0, 1e-12);
    CHECK_NEAR(s.topk, 3.0 / 6.0, 1e-12);
    CHECK(cr_metrics_count(m, 4, 0) == 2);  /* rows 1 and 3 predict class 0 */
    CHECK(cr_metrics_count(m, 0, 0) == 1);  /* the tied row predicts the first class */
    CHECK(cr_metrics_count(m, 6, 1) == 1);  /* first of the tied nines */
    CHECK(cr_metrics_count(m, 1, 6) == 1);  /* the NaN is the prediction, as torch.argmax's */
    /* one row's prediction is the matrix's column, and the matrix is cr_metrics_count's */
    static const int predicted[6] = {0, 0, 0, 0, 1, 6};
    for (int i = 0; i < 6; i++) CHECK(cr_metrics_predict(scores + i * 7, 7) == predicted[i]);
    const int64_t *matrix = cr_metrics_confusion(m);
    for (int t = 0; t < 7; t++)
        for (int p = 0; p < 7; p++) CHECK(matrix[t * 7 + p] == cr_metrics_count(m, t, p));
    cr_metrics_destroy(m);

    /* K = 2: top-k is top-2, always a hit; the tie goes to class 0 */
    CHECK_OK(cr_metrics_create(&m, 2, NULL));
    float tie[2] = {0.5f, 0.5f};
    int32_t one = 1;
    CHECK_OK(cr_metrics_add(m, tie, &one, 1));
    s = cr_metrics_summarize(m);
    CHECK(s.k == 2 && s.top1 == 0.0 && s.topk == 1.0 && cr_metrics_count(m, 1, 0) == 1);
    cr_metrics_destroy(m);
}

static void test_bad_input_counts_nothing(void) {
    cr_metrics *m = NULL;
    CHECK_FAILS(cr_metrics_create(&m, 0, NULL), CR_STATUS_INVALID, "0 classes");
    CHECK(m == NULL);
    CHECK_OK(cr_metrics_create(&m, 3, NULL));
    float scores[2 * 3] = {1, 0, 0, 0, 1, 0};
    int32_t labels[2] = {0, 3};
    CHECK_FAILS(cr_metrics_add(m, scores, labels, 2), CR_STATUS_INVALID, "row 1");
    labels[1] = -1;
    CHECK_FAILS(cr_metrics_add(m, scores, labels, 2), CR_STATUS_INVALID, "label -1");
    CHECK(cr_metrics_summarize(m).count == 0 && cr_metrics_count(m, 0, 0) == 0);
    CHECK_FAILS(cr_metrics_add(m, NULL, labels, 2), CR_STATUS_INVALID, "no scores");
    CHECK_OK(cr_metrics_add(m, NULL, NULL, 0));
    cr_metrics_destroy(m);
}

/* Everything f wrote, as a string the caller frees. */
static char *capture(cr_status (*write)(const cr_metrics *, FILE *), const cr_metrics *m) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    CHECK_OK(write(m, f));
    fclose(f);
    return text;
}

static void check_text(const char *got, const char *want, const char *what) {
    cr_test_checks++;
    if (strcmp(got, want) != 0)
        cr_test_fail(__FILE__, __LINE__, "%s:\n--- got\n%s--- expected\n%s", what, got, want);
}

static void test_csv(void) {
    cr_metrics *m = three_class_example();
    char *text = capture(cr_metrics_write_csv, m);
    check_text(text,
               "true\\pred,cat,dog,bird\n"
               "cat,2,1,0\n"
               "dog,2,1,1\n"
               "bird,0,1,1\n",
               "csv");
    free(text);
    cr_metrics_destroy(m);

    /* names needing quotes */
    const char *names[2] = {"a,b", "say \"hi\""};
    CHECK_OK(cr_metrics_create(&m, 2, names));
    text = capture(cr_metrics_write_csv, m);
    check_text(text,
               "true\\pred,\"a,b\",\"say \"\"hi\"\"\"\n"
               "\"a,b\",0,0\n"
               "\"say \"\"hi\"\"\",0,0\n",
               "csv quoting");
    free(text);
    cr_metrics_destroy(m);
}

static void test_save_confusion(void) {
    char dir[] = "/tmp/cr_metrics_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cr_metrics *m = three_class_example();
    CHECK_OK(cr_metrics_save_confusion(m, dir, 3));
    CHECK_OK(cr_metrics_save_confusion(m, dir, 4)); /* the folder exists already */
    char path[256], text[256] = {0};
    snprintf(path, sizeof path, "%s/confusion/3.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
    }
    check_text(text, "true\\pred,cat,dog,bird\ncat,2,1,0\ndog,2,1,1\nbird,0,1,1\n", "3.csv");
    snprintf(path, sizeof path, "%s/confusion/3.csv.partial", dir);
    CHECK(access(path, F_OK) != 0);
    CHECK_FAILS(cr_metrics_save_confusion(m, "/nonexistent/run", 1), CR_STATUS_IO,
                "/nonexistent/run/confusion");
    for (int e = 3; e <= 4; e++) {
        snprintf(path, sizeof path, "%s/confusion/%d.csv", dir, e);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/confusion", dir);
    rmdir(path);
    rmdir(dir);
    cr_metrics_destroy(m);
}

static void test_console_table(void) {
    cr_metrics *m = three_class_example();
    char *text = capture(cr_metrics_print, m);
    check_text(text,
               "true\\pred   cat   dog  bird  recall\n"
               "cat           2     1     .   66.7%\n"
               "dog           2     1     1   25.0%\n"
               "bird          .     1     1   50.0%\n",
               "table");
    free(text);
    cr_metrics_destroy(m);

    /* names alike in their first five columns get numbers; wide Hangul counts two columns;
     * a class with no samples shows no recall */
    const char *names[3] = {"class_a", "class_b", "마스크 착용"};
    CHECK_OK(cr_metrics_create(&m, 3, names));
    float row[3] = {0, 0, 1};
    int32_t label = 2;
    for (int i = 0; i < 123456; i += 1000) CHECK_OK(cr_metrics_add(m, row, &label, 1));
    text = capture(cr_metrics_print, m);
    check_text(text,
               "true\\pred         0     1     2  recall\n"
               "0 class_a         .     .     .       -\n"
               "1 class_b         .     .     .       -\n"
               "2 마스크 착용     .     .   124  100.0%\n",
               "numbered table");
    free(text);
    cr_metrics_destroy(m);
}

static void test_many_classes_list_pairs(void) {
    cr_metrics *m = NULL;
    CHECK_OK(cr_metrics_create(&m, 30, NULL));
    float scores[30] = {0};
    scores[7] = 1;
    int32_t label = 29;
    CHECK_OK(cr_metrics_add(m, scores, &label, 1));
    CHECK_OK(cr_metrics_add(m, scores, &label, 1));
    char *text = capture(cr_metrics_print, m);
    check_text(text, "30 classes, most confused (true -> predicted):\n  29 -> 7  2\n", "pairs");
    free(text);
    cr_metrics_destroy(m);
}

/* cr_metrics_rank places classes as cr_metrics_add ranks them: ties to the lower index, NaN
 * first; and its first place is the class the confusion matrix counts as predicted. */
static void test_rank(void) {
    float row[7] = {0.5f, 2.0f, -1.0f, 2.0f, NAN, 0.5f, -0.0f}; /* (K) */
    int top[7];
    cr_metrics_rank(row, 7, top, 7);
    const int want[7] = {4, 1, 3, 0, 5, 6, 2};
    for (int j = 0; j < 7; j++) CHECK(top[j] == want[j]);
    cr_metrics_rank(row, 7, top, 2);
    CHECK(top[0] == 4 && top[1] == 1);
    float tie[3] = {0.0f, 0.0f, 0.0f};
    cr_metrics_rank(tie, 3, top, 3);
    CHECK(top[0] == 0 && top[1] == 1 && top[2] == 2);

    cr_metrics *m = NULL;
    CHECK_OK(cr_metrics_create(&m, 7, NULL));
    int32_t label = 2;
    CHECK_OK(cr_metrics_add(m, row, &label, 1));
    CHECK(cr_metrics_count(m, 2, 4) == 1);
    cr_metrics_destroy(m);
}

/* The per-class table of the three-class example: the numbers worked out in
 * test_confusion_and_per_class, four places each. */
static void test_class_table(void) {
    cr_metrics *m = three_class_example();
    char *text = capture(cr_metrics_print_classes, m);
    check_text(text,
               "class  precision  recall      F1  support\n"
               "cat       0.5000  0.6667  0.5714        3\n"
               "dog       0.3333  0.2500  0.2857        4\n"
               "bird      0.5000  0.5000  0.5000        2\n",
               "per-class table");
    free(text);
    cr_metrics_destroy(m);

    /* Names wider than the header are padded, never cut; wide characters take two columns. */
    const char *names[2] = {"T-shirt/top", "\xEB\xB0\x94\xEC\xA7\x80"}; /* a Korean word */
    CHECK_OK(cr_metrics_create(&m, 2, names));
    text = capture(cr_metrics_print_classes, m);
    check_text(text,
               "class        precision  recall      F1  support\n"
               "T-shirt/top     0.0000  0.0000  0.0000        0\n"
               "\xEB\xB0\x94\xEC\xA7\x80            0.0000  0.0000  0.0000        0\n",
               "per-class table, long and wide names");
    free(text);
    cr_metrics_destroy(m);
}

int main(void) {
    test_confusion_and_per_class();
    test_topk_ranks_ties_and_nan();
    test_bad_input_counts_nothing();
    test_csv();
    test_save_confusion();
    test_console_table();
    test_many_classes_list_pairs();
    test_rank();
    test_class_table();
    return cr_test_summary("metrics");
}
