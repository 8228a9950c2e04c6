/* Unit tests of report.html on hand-made runs: a well-formed page (every tag closed in order, every
 * & a reference), one band per stage, escaped class names, the heatmap or the confused pairs. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/report.h"
#include "testing.h"

/* ---- a small HTML checker ------------------------------------------------------------------ */

static bool is_void(const char *name, size_t n) {
    static const char *const VOID[] = {"meta", "br", "img", "hr", "input", "link", "col", "wbr"};
    for (size_t i = 0; i < sizeof VOID / sizeof VOID[0]; i++)
        if (strlen(VOID[i]) == n && strncmp(VOID[i], name, n) == 0) return true;
    return false;
}

/* Checks that elements close in the order they opened (void and self-closed ones aside), that
 * every '&' starts a reference, and that no '<' stands alone in text; the style sheet's text is
 * skipped. Writes what is wrong into why and returns false. */
static bool well_formed(const char *html, char *why, size_t size) {
    const char *stack[256];
    size_t lengths[256];
    int depth = 0;
    for (const char *p = html; *p;) {
        if (*p == '&') {
            const char *q = p + 1;
            while (*q == '#' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                   (*q >= '0' && *q <= '9'))
                q++;
            if (*q != ';' || q == p + 1) {
                snprintf(why, size, "a bare '&' at byte %td: %.30s", p - html, p);
                return false;
            }
            p = q + 1;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        if (p[1] == '!') { /* doctype */
            p = strchr(p, '>');
            if (!p) break;
            p++;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (n == 0) {
            snprintf(why, size, "a bare '<' at byte %td: %.30s", p - html, p);
            return false;
        }
        const char *end = name + n;
        char quote = 0;
        for (; *end && (quote || *end != '>'); end++)
            if (*end == '"' || *end == '\'') quote = quote == *end ? 0 : quote ? quote : *end;
        if (!*end) {
            snprintf(why, size, "an unterminated tag at byte %td", p - html);
            return false;
        }
        if (closing) {
            if (depth == 0 || lengths[depth - 1] != n || strncmp(stack[depth - 1], name, n)) {
                snprintf(why, size, "</%.*s> at byte %td closes <%.*s>", (int)n, name, p - html,
                         depth ? (int)lengths[depth - 1] : 0, depth ? stack[depth - 1] : "");
                return false;
            }
            depth--;
        } else if (end[-1] != '/' && !is_void(name, n)) {
            if (depth == 256) {
                snprintf(why, size, "nested too deep");
                return false;
            }
            stack[depth] = name;
            lengths[depth++] = n;
            if (n == 5 && strncmp(name, "style", 5) == 0) { /* CSS text is not HTML */
                end = strstr(end, "</style>");
                if (!end) break;
                p = end;
                continue;
            }
        }
        p = end + 1;
    }
    if (depth != 0) {
        snprintf(why, size, "<%.*s> is never closed", (int)lengths[depth - 1], stack[depth - 1]);
        return false;
    }
    return true;
}

static int count_of(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The part of html from the element with id="id" to the next </svg>. */
static char *chart_of(const char *html, const char *id) {
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *start = strstr(html, key);
    const char *end = start ? strstr(start, "</svg>") : NULL;
    return end ? strndup(start, (size_t)(end - start)) : strdup("");
}

/* ---- hand-made runs -------------------------------------------------------------------------- */

/* Seven epochs in three stages (16 px x 2, 24 px x 3, 32 px x 2), validation missing in epoch 2
 * and measured at the switch into 24 px; the images/s of stage 1 average to 110. */
static const cr_report_stage STAGES[] = {{16, 32, 2}, {24, 16, 3}, {32, 8, 2}};

static void fill_epochs(cr_epoch_record *e) {
    static const int stage[] = {0, 0, 1, 1, 1, 2, 2};
    static const double rate[] = {100, 120, 80, 80, 80, 50, 50};
    for (int i = 0; i < 7; i++) {
        e[i] = cr_epoch_record_empty();
        e[i].epoch = i + 1;
        e[i].epochs = 7;
        e[i].stage = stage[i];
        e[i].resolution = STAGES[stage[i]].resolution;
        e[i].batch_size = STAGES[stage[i]].batch_size;
        e[i].lr = 0.1 * (7 - i) / 7;
        e[i].train_loss = 2.0 / (i + 1);
        e[i].train_acc = 0.3 + 0.09 * i;
        e[i].val_loss = 2.2 / (i + 1);
        e[i].val_acc = 0.25 + 0.1 * i;
        e[i].images_per_sec = rate[i];
        e[i].epoch_seconds = 10;
        e[i].elapsed_seconds = 10.0 * (i + 1);
    }
    e[1].val_loss = e[1].val_acc = NAN;
    e[2].switch_val_acc = 0.4;
}

enum { SMALL = 4, MANY = 40 };

static const char *const NAMES[SMALL] = {"<b>&\"x\"", "cat", "dog's", "bird"};
static const uint8_t FAKE_PNG[] = {0x89, 'P', 'N', 'G'}; /* base64: iVBORw== */

typedef struct run_data {
    cr_epoch_record epochs[7];
    cr_report_class classes[MANY];
    int64_t confusion[MANY * MANY];
    cr_report_pair pairs[3];
    cr_report_thumbnail thumbs[2];
    char names[MANY][16];
    cr_report report;
} run_data;

/* A run of k classes; row 0 of the confusion matrix is 6, 2, 0, 0 (75% right). */
static void make_run(run_data *d, int k) {
    memset(d, 0, sizeof *d);
    fill_epochs(d->epochs);
    for (int c = 0; c < k; c++) {
        snprintf(d->names[c], sizeof d->names[c], "class %d", c);
        d->classes[c] = (cr_report_class){.name = c < SMALL ? NAMES[c] : d->names[c],
                                          .support = 8, .precision = 0.8, .recall = 0.75,
                                          .f1 = 0.774};
        d->confusion[c * k + c] = 6;
        d->confusion[c * k + (c + 1) % k] = 2;
    }
    for (int i = 0; i < 3; i++)
        d->pairs[i] = (cr_report_pair){.true_class = i, .predicted_class = i + 1, .count = 2};
    for (int i = 0; i < 2; i++)
        d->thumbs[i] = (cr_report_thumbnail){.png = FAKE_PNG, .png_size = sizeof FAKE_PNG,
                                             .width = 24, .height = 24, .true_class = i,
                                             .predicted_class = i + 1};
    d->report = (cr_report){.title = "runs/<demo>", .model = "simple_cnn", .epochs = d->epochs,
                            .epoch_count = 7, .planned_epochs = 7, .stages = STAGES,
                            .stage_count = 3, .best_epoch = 7, .best_val_acc = 0.85,
                            .classes = k, .class_stats = d->classes,
                            .confusion = d->confusion, .confused = d->pairs,
                            .confused_count = 3, .thumbnails = d->thumbs,
                            .thumbnail_count = 2};
}

/* The page as a string (NULL when writing failed). */
static char *render(const cr_report *report, cr_status *status) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    *status = cr_report_write_html(out, report);
    fclose(out);
    if (*status != CR_STATUS_OK) {
        free(text);
        return NULL;
    }
    return text;
}

static void check_well_formed(const char *html, int line) {
    char why[160];
    cr_test_checks++;
    if (!well_formed(html, why, sizeof why)) cr_test_fail(__FILE__, line, "not well formed: %s", why);
}

static void test_small_run(void) {
    run_data *d = malloc(sizeof *d);
    make_run(d, SMALL);
    cr_status s;
    char *html = render(&d->report, &s);
    CHECK_OK(s);
    if (!html) {
        free(d);
        return;
    }
    check_well_formed(html, __LINE__);
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    /* self-contained: nothing fetched, nothing run */
    CHECK(!strstr(html, "http://") && !strstr(html, "https://"));
    CHECK(!strstr(html, "<script") && !strstr(html, "<link"));
    /* one band per stage in each epoch chart, labelled with its size, and a line per switch */
    static const char *const CHARTS[] = {"loss", "accuracy", "lr"};
    for (int i = 0; i < 3; i++) {
        char *chart = chart_of(html, CHARTS[i]);
        CHECK(count_of(chart, "class=\"stage-band\"") == 3);
        CHECK(strstr(chart, "data-stage=\"0\" data-resolution=\"16\""));
        CHECK(strstr(chart, "data-stage=\"1\" data-resolution=\"24\""));
        CHECK(strstr(chart, "data-stage=\"2\" data-resolution=\"32\""));
        CHECK(strstr(chart, ">16px</text>") && strstr(chart, ">32px</text>"));
        CHECK(count_of(chart, "class=\"switch\"") == 2);
        free(chart);
    }
    /* the validation at the switch is a diamond on the accuracy chart only */
    char *accuracy = chart_of(html, "accuracy");
    CHECK(count_of(accuracy, "<path d=") == 1);
    free(accuracy);
    /* a missing validation breaks the val line: points before and after, no line across */
    char *loss = chart_of(html, "loss");
    CHECK(count_of(loss, "val loss, epoch") == 6);
    free(loss);
    /* stages: stage 1's mean rate, and bars per stage */
    CHECK(strstr(html, "<td>110</td>"));
    CHECK(count_of(html, "class=\"bar\"") == 3);
    /* names escaped wherever they go: heatmap headers, pairs, per-class rows, captions, alt */
    CHECK(!strstr(html, NAMES[0]) && !strstr(html, "<demo>"));
    CHECK(count_of(html, "&lt;b&gt;&amp;&quot;x&quot;") >= 5);
    CHECK(strstr(html, "dog&#39;s"));
    CHECK(strstr(html, "runs/&lt;demo&gt;"));
    /* a small matrix: the heatmap with each row's percentage written, and the pairs */
    CHECK(strstr(html, "class=\"heatmap\""));
    CHECK(count_of(html, ">75</td>") == SMALL);
    CHECK(count_of(html, ">25</td>") == SMALL);
    CHECK(strstr(html, "class=\"data confused\""));
    /* thumbnails as data: URIs with their classes */
    CHECK(count_of(html, "src=\"data:image/png;base64,iVBORw==\"") == 2);
    CHECK(strstr(html, "alt=\"cat predicted as dog&#39;s\""));
    free(html);

    /* a validation of 20 classes: the heatmap is colour only */
    make_run(d, 20);
    html = render(&d->report, &s);
    CHECK_OK(s);
    if (html) {
        check_well_formed(html, __LINE__);
        CHECK(strstr(html, "class=\"heatmap\"") && !strstr(html, ">75</td>"));
        free(html);
    }
    free(d);
}

static void test_many_classes(void) {
    run_data *d = malloc(sizeof *d);
    make_run(d, MANY);
    cr_status s;
    char *html = render(&d->report, &s);
    CHECK_OK(s);
    if (html) {
        check_well_formed(html, __LINE__);
        CHECK(!strstr(html, "class=\"heatmap\""));
        CHECK(strstr(html, "class=\"data confused\""));
        CHECK(count_of(html, "<tr><td>class 39</td>") == 1); /* the per-class row */
        free(html);
    }
    free(d);
}

static void test_partial_runs(void) {
    run_data *d = malloc(sizeof *d);
    make_run(d, SMALL);
    cr_status s;
    /* no validation set */
    d->report.classes = 0;
    d->report.confused_count = d->report.thumbnail_count = 0;
    char *html = render(&d->report, &s);
    CHECK_OK(s);
    if (html) {
        check_well_formed(html, __LINE__);
        CHECK(strstr(html, "no validation set") && !strstr(html, "heatmap\""));
        free(html);
    }
    /* before the first epoch ends */
    d->report.epoch_count = 0;
    html = render(&d->report, &s);
    CHECK_OK(s);
    if (html) {
        check_well_formed(html, __LINE__);
        CHECK(!strstr(html, "class=\"stage-band\""));
        free(html);
    }
    free(d);
}

static void test_refusals(void) {
    run_data *d = malloc(sizeof *d);
    make_run(d, SMALL);
    d->epochs[3].stage = 3;
    cr_status s;
    CHECK(render(&d->report, &s) == NULL);
    CHECK(s == CR_STATUS_INVALID && strstr(cr_error_message(), "epoch 4"));
    make_run(d, SMALL);
    d->thumbs[1].predicted_class = SMALL;
    CHECK(render(&d->report, &s) == NULL && s == CR_STATUS_INVALID);
    make_run(d, SMALL);
    d->pairs[0].true_class = -1;
    CHECK(render(&d->report, &s) == NULL && s == CR_STATUS_INVALID);

    /* saved atomically: the page appears whole, nothing beside it; an unwritable place is an
     * error naming the file */
    make_run(d, SMALL);
    char dir[] = "/tmp/cr_report_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64], partial[80];
    snprintf(path, sizeof path, "%s/report.html", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK_OK(cr_report_save_html(path, &d->report));
    CHECK(access(path, R_OK) == 0 && access(partial, F_OK) != 0);
    d->epochs[0].stage = 9;
    CHECK_FAILS(cr_report_save_html(path, &d->report), CR_STATUS_INVALID, path);
    CHECK(access(path, R_OK) == 0 && access(partial, F_OK) != 0); /* the old page stays */
    remove(path);
    rmdir(dir);
    make_run(d, SMALL);
    CHECK_FAILS(cr_report_save_html("/nonexistent/run/report.html", &d->report), CR_STATUS_IO,
                "/nonexistent/run/report.html");
    free(d);
}

/* The checker itself must catch what it is there for. */
static void test_checker(void) {
    char why[160];
    CHECK(well_formed("<p><b>x</b><br></p>", why, sizeof why));
    CHECK(!well_formed("<p><b>x</p></b>", why, sizeof why));
    CHECK(!well_formed("<p>a < b</p>", why, sizeof why));
    CHECK(!well_formed("<p>a & b</p>", why, sizeof why));
    CHECK(!well_formed("<div><p>x</p>", why, sizeof why));
    CHECK(well_formed("<style>a>b{}</style><svg><rect/></svg>", why, sizeof why));
}

int main(void) {
    test_checker();
    test_small_run();
    test_many_classes();
    test_partial_runs();
    test_refusals();
    return cr_test_summary("html");
}
