/* Unit tests of the dataset index: CSV columns and labels, the checks that name file:line,
 * skipping bad rows, ImageFolder order as torchvision lists it, every image under a folder,
 * subsets, the stratified split and the images' typical size. */
#include <string.h>

#include "crescendo/dataset.h"
#include "crescendo/image.h"
#include "temp_tree.h"
#include "testing.h"

static temp_tree tree;

static const char *at(const char *rel) {
    static char path[4][512];
    static int next;
    next = (next + 1) % 4;
    return temp_tree_path(&tree, rel, path[next], sizeof path[next]);
}

/* Image files only need to exist for the index: their bytes are the loader's business. */
static void touch(const char *rel) { temp_tree_write_text(&tree, rel, "x"); }

static cr_dataset *from_csv(const char *text, const cr_dataset_options *options) {
    temp_tree_write_text(&tree, "t.csv", text);
    cr_dataset *ds = NULL;
    cr_status s = cr_dataset_from_csv(at("t.csv"), tree.root, options, &ds);
    if (s != CR_STATUS_OK) fprintf(stderr, "  (from_csv: %s)\n", cr_error_message());
    return ds;
}

/* The CSV fails with status and a message containing needle. */
static void check_csv_fails(const char *text, const cr_dataset_options *options, cr_status status,
                            const char *needle) {
    temp_tree_write_text(&tree, "t.csv", text);
    cr_dataset *ds = (cr_dataset *)1;
    CHECK_FAILS(cr_dataset_from_csv(at("t.csv"), tree.root, options, &ds), status, needle);
    CHECK(ds == NULL);
}

static void test_csv_with_names_and_targets(void) {
    touch("img/a.png");
    touch("img/b.png");
    touch("img/c d.png");
    cr_dataset *ds = from_csv("class_name,image_path,target\n"
                              "Dress,img/a.png,3\n"
                              "\"T-shirt/top\",img/b.png,0\n"
                              "Dress,\"img/c d.png\",3\n", NULL);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(cr_dataset_count(ds) == 3);
    CHECK(cr_dataset_num_classes(ds) == 4);
    CHECK(strcmp(cr_dataset_class_name(ds, 0), "T-shirt/top") == 0);
    CHECK(strcmp(cr_dataset_class_name(ds, 1), "1") == 0); /* unused targets get their number */
    CHECK(strcmp(cr_dataset_class_name(ds, 3), "Dress") == 0);
    CHECK(cr_dataset_label(ds, 0) == 3 && cr_dataset_label(ds, 1) == 0);
    CHECK(cr_dataset_labels(ds)[2] == 3);
    CHECK(strcmp(cr_dataset_path(ds, 2), "img/c d.png") == 0);
    CHECK(cr_dataset_line(ds, 1) == 3);
    char buf[512];
    CHECK_OK(cr_dataset_resolve(ds, 2, buf, sizeof buf));
    CHECK(strcmp(buf, at("img/c d.png")) == 0);
    CHECK_FAILS(cr_dataset_resolve(ds, 2, buf, 8), CR_STATUS_INVALID, "path longer than 7");
    cr_dataset_where(ds, 1, buf, sizeof buf);
    CHECK(strcmp(buf, at("t.csv:3")) == 0);
    CHECK(strcmp(cr_dataset_root(ds), tree.root) == 0);
    CHECK(cr_dataset_skipped_count(ds) == 0);
    cr_dataset_destroy(ds);
}

static void test_csv_column_choices(void) {
    /* Other names, any order, extra columns. */
    cr_dataset_options named = {.path_column = "file", .target_column = "label",
                                .class_column = "name"};
    cr_dataset *ds = from_csv("id,label,file,name\n7,1,img/a.png,cat\n8,0,img/b.png,dog\n", &named);
    CHECK(ds && cr_dataset_count(ds) == 2 && cr_dataset_num_classes(ds) == 2);
    CHECK(ds && strcmp(cr_dataset_class_name(ds, 1), "cat") == 0);
    cr_dataset_destroy(ds);
    check_csv_fails("id,label,file\n7,1,img/a.png\n", &named, CR_STATUS_DATA,
                    "t.csv:1: no column named 'name' in the header (it has: id, label, file)");

    /* Targets only: names are the numbers; num_classes widens the set. */
    cr_dataset_options ten = {.num_classes = 10};
    ds = from_csv("image_path,target\nimg/a.png,2\nimg/b.png,0\n", &ten);
    CHECK(ds && cr_dataset_num_classes(ds) == 10 && strcmp(cr_dataset_class_name(ds, 2), "2") == 0);
    cr_dataset_destroy(ds);

    /* Names only: classes in byte order, as ImageFolder sorts folders. */
    ds = from_csv("image_path,class_name\nimg/a.png,zebra\nimg/b.png,ant\nimg/a.png,Zulu\n"
                  "img/b.png,zebra\n", NULL);
    CHECK(ds && cr_dataset_num_classes(ds) == 3);
    if (ds) {
        CHECK(strcmp(cr_dataset_class_name(ds, 0), "Zulu") == 0);
        CHECK(strcmp(cr_dataset_class_name(ds, 1), "ant") == 0);
        CHECK(cr_dataset_label(ds, 0) == 2 && cr_dataset_label(ds, 1) == 1 &&
              cr_dataset_label(ds, 2) == 0 && cr_dataset_label(ds, 3) == 2);
    }
    cr_dataset_destroy(ds);

    /* No labels at all: an error, unless they are optional (predict). */
    check_csv_fails("image_path\nimg/a.png\n", NULL, CR_STATUS_DATA,
                    "t.csv:1: no labels: the header has neither a 'target' nor a 'class_name'");
    cr_dataset_options optional = {.labels_optional = true};
    ds = from_csv("ID,image_path\n1,img/a.png\n", &optional);
    CHECK(ds && cr_dataset_num_classes(ds) == 0 && cr_dataset_label(ds, 0) == -1);
    cr_dataset_destroy(ds);

    /* Paths only: a placeholder target column is not read, a missing path column still fails. */
    cr_dataset_options paths = {.paths_only = true};
    ds = from_csv("ID,image_path,target,class_name\n7,img/a.png,,?\n8,img/b.png,x,?\n", &paths);
    CHECK(ds && cr_dataset_count(ds) == 2 && cr_dataset_num_classes(ds) == 0);
    CHECK(ds && cr_dataset_label(ds, 0) == -1 && cr_dataset_label(ds, 1) == -1);
    CHECK(ds && cr_dataset_line(ds, 1) == 3);
    cr_dataset_destroy(ds);
    check_csv_fails("ID,path\n7,img/a.png\n", &paths, CR_STATUS_DATA,
                    "t.csv:1: no column named 'image_path' in the header (it has: ID, path)");
    check_csv_fails("ID,image_path\n7,\n", &paths, CR_STATUS_DATA, "t.csv:2: empty image path");
}

static void test_csv_known_classes(void) {
    const char *names[] = {"ant", "bee", "cat"};
    cr_dataset_options known = {.num_classes = 3, .class_names = names};
    cr_dataset *ds = from_csv("image_path,class_name\nimg/a.png,cat\n", &known);
    CHECK(ds && cr_dataset_num_classes(ds) == 3 && cr_dataset_label(ds, 0) == 2);
    cr_dataset_destroy(ds);
    check_csv_fails("image_path,class_name\nimg/a.png,cat\nimg/b.png,dog\n", &known,
                    CR_STATUS_DATA, "t.csv:3: class 'dog' is not one of the 3 known classes");
    check_csv_fails("image_path,class_name,target\nimg/a.png,cat,1\n", &known, CR_STATUS_DATA,
                    "t.csv:2: class 'cat' has target 1 here, but it is class 2 of the known");
    check_csv_fails("image_path,target\nimg/a.png,3\n", &known, CR_STATUS_DATA,
                    "t.csv:2: target 3 is out of range: there are 3 classes");
}

static void test_csv_bad_rows_fail_with_file_and_line(void) {
    const char *header = "class_name,image_path,target\n";
    char text[512];
    struct {
        const char *rows, *message;
    } cases[] = {
        {"cat,img/a.png,0\ncat,img/b.png\n", "t.csv:3: 2 fields, but the header has 3"},
        {"cat,img/a.png,zero\n", "t.csv:2: target 'zero' is not a whole number >= 0"},
        {"cat,img/a.png,-1\n", "t.csv:2: target '-1' is not a whole number"},
        {"cat,img/a.png,99999999999\n", "t.csv:2: target '99999999999' is over the limit"},
        {"cat,img/a.png,0\n\ndog,img/b.png,0\n", "t.csv:4: target 0 is class 'dog' here but "
                                                 "'cat' at line 2"},
        {"cat,img/a.png,0\ncat,img/b.png,1\n", "t.csv:3: class 'cat' has target 1 here but 0 at "
                                               "line 2"},
        {",img/a.png,0\n", "t.csv:2: empty class name"},
        {"cat,,0\n", "t.csv:2: empty image path"},
        {"cat,img/nope.png,0\n", "t.csv:2: image 'img/nope.png' not found (looked for '"},
        {"cat,img,0\n", "is a folder, not an image"},
        {"cat,\"img/a.png,0\n", "t.csv:2: a quoted field is never closed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s%s", header, cases[i].rows);
        check_csv_fails(text, NULL, CR_STATUS_DATA, cases[i].message);
    }
    check_csv_fails("", NULL, CR_STATUS_DATA, "t.csv is empty: expected a header row");
    check_csv_fails(header, NULL, CR_STATUS_DATA, "t.csv has a header but no rows");
    cr_dataset_options two = {.num_classes = 2};
    check_csv_fails("image_path,target\nimg/a.png,2\n", &two, CR_STATUS_DATA,
                    "t.csv:2: target 2 is out of range: there are 2 classes, so targets go from 0 "
                    "to 1");
    cr_dataset *ds = NULL;
    CHECK_FAILS(cr_dataset_from_csv(at("none.csv"), tree.root, NULL, &ds), CR_STATUS_IO,
                "none.csv: cannot open");
}

static void test_csv_skip_mode_counts_and_lists(void) {
    cr_dataset_options skip = {.on_bad = CR_ON_BAD_SKIP};
    cr_dataset *ds = from_csv("class_name,image_path,target\n"
                              "cat,img/a.png,0\n"
                              "cat,img/gone.png,0\n"
                              "dog,img/b.png,x\n"
                              "dog,img/b.png,1\n"
                              "cat,img/b.png,1\n", &skip);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(cr_dataset_count(ds) == 2);
    CHECK(cr_dataset_line(ds, 1) == 5);
    CHECK(cr_dataset_skipped_count(ds) == 3);
    CHECK(strstr(cr_dataset_skipped_message(ds, 0), "t.csv:3: image 'img/gone.png' not found"));
    CHECK(strstr(cr_dataset_skipped_message(ds, 1), "t.csv:4: target 'x'"));
    CHECK(strstr(cr_dataset_skipped_message(ds, 2), "t.csv:6: class 'cat' has target 1"));
    cr_dataset_destroy(ds);
    check_csv_fails("class_name,image_path,target\ncat,img/gone.png,0\n", &skip, CR_STATUS_DATA,
                    "t.csv: all 1 rows are bad; the first: ");

    /* Without the file check, a missing image passes the index (the loader will see it). */
    cr_dataset_options trust = {.skip_file_check = true};
    ds = from_csv("image_path,target\nimg/gone.png,0\n", &trust);
    CHECK(ds && cr_dataset_count(ds) == 1);
    cr_dataset_destroy(ds);
}

static void test_folder_order_matches_torchvision(void) {
    /* Expected order: sorted(os.walk(class_dir)) by folder path, then files by name. */
    touch("folder/b_class/z.png");
    touch("folder/b_class/a/y.JPG");
    touch("folder/b_class/a-b/q.png");
    touch("folder/b_class/a.png");
    touch("folder/b_class/notes.txt");
    touch("folder/b_class/.hidden.png");
    touch("folder/A_class/1.jpeg");
    touch("folder/loose.png");
    temp_tree_mkdirs(&tree, "folder/.ipynb_checkpoints/");
    cr_dataset *ds = NULL;
    CHECK_OK(cr_dataset_from_folder(at("folder"), NULL, &ds));
    if (!ds) return;
    CHECK(cr_dataset_num_classes(ds) == 2);
    CHECK(strcmp(cr_dataset_class_name(ds, 0), "A_class") == 0);
    const char *want[] = {"A_class/1.jpeg", "b_class/a.png", "b_class/z.png", "b_class/a/y.JPG",
                          "b_class/a-b/q.png"};
    CHECK(cr_dataset_count(ds) == 5);
    for (int i = 0; i < 5 && i < cr_dataset_count(ds); i++) {
        CHECK(strcmp(cr_dataset_path(ds, i), want[i]) == 0);
        CHECK(cr_dataset_label(ds, i) == (i > 0));
        CHECK(cr_dataset_line(ds, i) == 0);
    }
    char buf[512];
    cr_dataset_where(ds, 3, buf, sizeof buf);
    CHECK(strcmp(buf, at("folder/b_class/a/y.JPG")) == 0);
    cr_dataset_destroy(ds);

    /* A folder the training set did not have. */
    const char *names[] = {"A_class", "c_class"};
    cr_dataset_options known = {.num_classes = 2, .class_names = names};
    CHECK_FAILS(cr_dataset_from_folder(at("folder"), &known, &ds), CR_STATUS_DATA,
                "folder 'b_class' is not one of the 2 known classes");
}

static void test_every_image_under_a_folder(void) {
    /* The order of a class folder, from the root: its own files first, then each folder by path. */
    touch("all/z.png");
    touch("all/b/y.JPG");
    touch("all/a/c/x.jpeg");
    touch("all/a/w.png");
    touch("all/a.png");
    touch("all/notes.csv");
    touch("all/.hidden.png");
    cr_dataset *ds = NULL;
    CHECK_OK(cr_dataset_from_images(at("all"), NULL, &ds));
    if (!ds) return;
    const char *want[] = {"a.png", "z.png", "a/w.png", "a/c/x.jpeg", "b/y.JPG"};
    CHECK(cr_dataset_count(ds) == 5 && cr_dataset_num_classes(ds) == 0);
    for (int i = 0; i < 5 && i < cr_dataset_count(ds); i++) {
        CHECK(strcmp(cr_dataset_path(ds, i), want[i]) == 0);
        if (strcmp(cr_dataset_path(ds, i), want[i]) != 0)
            fprintf(stderr, "  sample %d: got '%s', want '%s'\n", i, cr_dataset_path(ds, i),
                    want[i]);
        CHECK(cr_dataset_label(ds, i) == -1);
    }
    char buf[512];
    CHECK_OK(cr_dataset_resolve(ds, 3, buf, sizeof buf));
    CHECK(strcmp(buf, at("all/a/c/x.jpeg")) == 0);
    cr_dataset_destroy(ds);

    touch("none/readme.txt");
    CHECK_FAILS(cr_dataset_from_images(at("none"), NULL, &ds), CR_STATUS_DATA,
                "none: no PNG or JPEG images in this folder or below it");
    touch("other/a.webp");
    CHECK_FAILS(cr_dataset_from_images(at("other"), NULL, &ds), CR_STATUS_DATA,
                "other/a.webp: only PNG and JPEG images are read");
    cr_dataset_options skip = {.on_bad = CR_ON_BAD_SKIP};
    CHECK_FAILS(cr_dataset_from_images(at("other"), &skip, &ds), CR_STATUS_DATA,
                "other: no usable images; the first problem: ");
}

static void test_folder_problems(void) {
    cr_dataset *ds = NULL;
    touch("f2/cat/a.bmp");
    touch("f2/cat/b.png");
    touch("f2/dog/readme.txt");
    CHECK_FAILS(cr_dataset_from_folder(at("f2"), NULL, &ds), CR_STATUS_DATA,
                "f2/cat/a.bmp: only PNG and JPEG images are read");
    cr_dataset_options skip = {.on_bad = CR_ON_BAD_SKIP};
    CHECK_OK(cr_dataset_from_folder(at("f2"), &skip, &ds));
    if (ds) {
        CHECK(cr_dataset_count(ds) == 1 && cr_dataset_num_classes(ds) == 2);
        CHECK(cr_dataset_skipped_count(ds) == 2);
        CHECK(strstr(cr_dataset_skipped_message(ds, 1), "f2/dog: no PNG or JPEG images"));
    }
    cr_dataset_destroy(ds);
    temp_tree_mkdirs(&tree, "f3/");
    touch("f3/loose.png");
    CHECK_FAILS(cr_dataset_from_folder(at("f3"), NULL, &ds), CR_STATUS_DATA,
                "f3: no class folders; an image folder is laid out as");
    CHECK_FAILS(cr_dataset_from_folder(at("f4"), NULL, &ds), CR_STATUS_IO,
                "f4: cannot open the folder");
}

/* A set of 3 classes with 10, 5 and 1 samples, in interleaved order. */
static cr_dataset *make_split_set(void) {
    static const int labels[16] = {0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 2};
    char text[4096];
    size_t n = (size_t)sprintf(text, "image_path,target\n");
    for (int i = 0; i < 16; i++) n += (size_t)sprintf(text + n, "%d.png,%d\n", i, labels[i]);
    cr_dataset_options trust = {.skip_file_check = true};
    return from_csv(text, &trust);
}

static void test_split_is_stratified_and_seeded(void) {
    cr_dataset *ds = make_split_set(), *train, *val, *train2, *val2, *train3, *val3;
    if (!ds) return;
    CHECK_OK(cr_dataset_split(ds, 0.2, 7, &train, &val));
    CHECK_OK(cr_dataset_split(ds, 0.2, 7, &train2, &val2));
    CHECK_OK(cr_dataset_split(ds, 0.2, 8, &train3, &val3));
    /* round(10 * .2) = 2 and round(5 * .2) = 1 go to validation; a single sample stays. */
    CHECK(cr_dataset_count(val) == 3 && cr_dataset_count(train) == 13);
    int per_class[3] = {0};
    for (int i = 0; i < cr_dataset_count(val); i++) per_class[cr_dataset_label(val, i)]++;
    CHECK(per_class[0] == 2 && per_class[1] == 1 && per_class[2] == 0);
    /* Disjoint, complete, in the original order, and the same for the same seed. */
    int seen[16] = {0}, ordered = 1, same = 1, differs = 0;
    for (int i = 0; i < cr_dataset_count(train); i++) {
        seen[atoi(cr_dataset_path(train, i))]++;
        if (i) ordered &= atoi(cr_dataset_path(train, i)) > atoi(cr_dataset_path(train, i - 1));
    }
    for (int i = 0; i < cr_dataset_count(val); i++) {
        seen[atoi(cr_dataset_path(val, i))]++;
        same &= strcmp(cr_dataset_path(val, i), cr_dataset_path(val2, i)) == 0;
        differs |= strcmp(cr_dataset_path(val, i), cr_dataset_path(val3, i)) != 0;
        if (i) ordered &= atoi(cr_dataset_path(val, i)) > atoi(cr_dataset_path(val, i - 1));
    }
    for (int i = 0; i < 16; i++) CHECK(seen[i] == 1);
    CHECK(ordered && same && differs);
    CHECK(cr_dataset_num_classes(val) == 3 && cr_dataset_line(val, 0) >= 2);
    cr_dataset *a, *b;
    CHECK_FAILS(cr_dataset_split(ds, 1.0, 7, &a, &b), CR_STATUS_INVALID, "not between 0 and 1");

    int picks[2] = {15, 0};
    cr_dataset *sub;
    CHECK_OK(cr_dataset_subset(ds, picks, 2, &sub));
    CHECK(cr_dataset_count(sub) == 2 && cr_dataset_label(sub, 0) == 2 &&
          strcmp(cr_dataset_path(sub, 1), "0.png") == 0 && cr_dataset_num_classes(sub) == 3);
    picks[0] = 16;
    CHECK_FAILS(cr_dataset_subset(ds, picks, 2, &a), CR_STATUS_INVALID, "index 16 is outside");
    cr_dataset *all[] = {ds, train, val, train2, val2, train3, val3, sub};
    for (int i = 0; i < 8; i++) cr_dataset_destroy(all[i]);
}

/* Writes a gray PNG of width x height at rel. */
static void write_png(const char *rel, int width, int height) {
    static uint8_t pixels[64 * 64];
    cr_image image = {.width = width, .height = height, .channels = 1, .pixels = pixels};
    CHECK_OK(cr_image_write_png(at(rel), &image));
}

/* The median shorter side, unreadable files passed over, and a set with none readable. */
static void test_typical_side(void) {
    temp_tree_mkdirs(&tree, "sizes/");
    write_png("sizes/a.png", 40, 30);
    write_png("sizes/b.png", 50, 60);
    write_png("sizes/c.png", 20, 20);
    temp_tree_write_text(&tree, "sizes/d.png", "not a png");
    cr_dataset *ds = from_csv("class_name,image_path,target\nx,sizes/a.png,0\nx,sizes/b.png,0\n"
                              "x,sizes/c.png,0\nx,sizes/d.png,0\n", &(cr_dataset_options){0});
    int side = 0;
    CHECK_OK(cr_dataset_typical_side(ds, 0, &side));
    CHECK(side == 30);
    CHECK_OK(cr_dataset_typical_side(ds, 2, &side)); /* samples 0 and 2: sides 30 and 20 */
    CHECK(side == 30);
    cr_dataset_destroy(ds);
    ds = from_csv("class_name,image_path,target\nx,sizes/d.png,0\n", &(cr_dataset_options){0});
    CHECK_FAILS(cr_dataset_typical_side(ds, 0, &side), CR_STATUS_DATA, "d.png");
    cr_dataset_destroy(ds);
}

int main(void) {
    temp_tree_make(&tree, "cr_dataset_");
    test_csv_with_names_and_targets();
    test_csv_column_choices();
    test_csv_known_classes();
    test_csv_bad_rows_fail_with_file_and_line();
    test_csv_skip_mode_counts_and_lists();
    test_folder_order_matches_torchvision();
    test_folder_problems();
    test_every_image_under_a_folder();
    test_split_is_stratified_and_seeded();
    test_typical_side();
    temp_tree_remove(&tree);
    return cr_test_summary("test_dataset");
}
