/* Unit tests of the safetensors reader and writer: round trips, the atomic replace, and one case
 * per corruption the reader must name. Also the helper test_safetensors_torch.py drives:
 *   --write FILE   writes the sample tensors below     --dump FILE   prints a file as JSON */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crescendo/safetensors.h"
#include "testing.h"

/* The sample file, also rebuilt value for value by test_safetensors_torch.py. */
enum { SAMPLE_COUNT = 8 };
static float fc_weight[12];                    /* (3, 4): i * 0.25 - 1.5 */
static float fc_bias[3];                       /* (3): 0.5 - i */
static int64_t batches = 123456789012;         /* () */
static uint16_t bf16[5];                       /* (5): the floats below rounded to bf16 */
static uint8_t mask[7];                        /* (7): i * 37 */
static uint16_t half[2] = {0x3c00, 0xc000};    /* (2): 1.0 and -2.0 in binary16 */
static int32_t idx[4] = {-1, 0, 1, INT32_MAX}; /* (2, 2) */
static float empty[1];                         /* (0, 3) */

static void make_sample(cr_named_tensor *t, cr_metadata_entry *meta) {
    static const float bf16_source[5] = {1.00390625f, 1.01171875f, -2.5f, 3.14159265f, 1e-3f};
    for (int i = 0; i < 12; i++) fc_weight[i] = (float)i * 0.25f - 1.5f;
    for (int i = 0; i < 3; i++) fc_bias[i] = 0.5f - (float)i;
    for (int i = 0; i < 5; i++) bf16[i] = cr_f32_to_bf16(bf16_source[i]);
    for (int i = 0; i < 7; i++) mask[i] = (uint8_t)(i * 37);
    t[0].name = "fc.weight";
    t[0].tensor = cr_tensor_make(CR_DTYPE_F32, 2, (int64_t[]){3, 4}, fc_weight);
    t[1].name = "fc.bias";
    t[1].tensor = cr_tensor_make(CR_DTYPE_F32, 1, (int64_t[]){3}, fc_bias);
    t[2].name = "bn.num_batches_tracked";
    t[2].tensor = cr_tensor_make(CR_DTYPE_I64, 0, NULL, &batches);
    t[3].name = "emb.bf16";
    t[3].tensor = cr_tensor_make(CR_DTYPE_BF16, 1, (int64_t[]){5}, bf16);
    t[4].name = "mask";
    t[4].tensor = cr_tensor_make(CR_DTYPE_U8, 1, (int64_t[]){7}, mask);
    t[5].name = "half";
    t[5].tensor = cr_tensor_make(CR_DTYPE_F16, 1, (int64_t[]){2}, half);
    t[6].name = "idx";
    t[6].tensor = cr_tensor_make(CR_DTYPE_I32, 2, (int64_t[]){2, 2}, idx);
    t[7].name = "empty";
    t[7].tensor = cr_tensor_make(CR_DTYPE_F32, 2, (int64_t[]){0, 3}, empty);
    meta[0] = (cr_metadata_entry){"model", "resnet18"};
    meta[1] = (cr_metadata_entry){"epoch", "3"};
}

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[sizeof tmpdir + 256 + 2];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static int files_in_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') unlink(tmp_path(e->d_name));
    if (d) closedir(d);
    rmdir(tmpdir);
}

static void test_round_trip(void) {
    cr_named_tensor t[SAMPLE_COUNT];
    cr_metadata_entry meta[2];
    make_sample(t, meta);
    const char *path = tmp_path("sample.safetensors");
    CHECK_OK(cr_safetensors_write(path, t, SAMPLE_COUNT, meta, 2));
    CHECK(files_in_tmpdir() == 1); /* no temporary file left behind */

    cr_safetensors *f = NULL;
    CHECK_OK(cr_safetensors_open(path, &f));
    if (!f) return;
    CHECK(cr_safetensors_count(f) == SAMPLE_COUNT);
    for (int i = 1; i < cr_safetensors_count(f); i++)
        CHECK(strcmp(cr_safetensors_at(f, i - 1)->name, cr_safetensors_at(f, i)->name) < 0);
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        const cr_tensor *got = cr_safetensors_find(f, t[i].name);
        CHECK(got != NULL);
        if (!got) continue;
        CHECK(got->dtype == t[i].tensor.dtype && got->ndim == t[i].tensor.ndim);
        for (int d = 0; d < got->ndim; d++) CHECK(got->shape[d] == t[i].tensor.shape[d]);
        CHECK(memcmp(got->data, t[i].tensor.data, cr_tensor_bytes(got)) == 0);
        CHECK((uintptr_t)got->data % cr_dtype_size(got->dtype) == 0);
    }
    CHECK(cr_safetensors_find(f, "missing") == NULL);
    CHECK(cr_safetensors_metadata_count(f) == 2);
    CHECK(strcmp(cr_safetensors_metadata_at(f, 0)->key, "epoch") == 0);
    CHECK(strcmp(cr_safetensors_metadata(f, "model"), "resnet18") == 0);
    CHECK(cr_safetensors_metadata(f, "seed") == NULL);
    CHECK(strcmp(cr_safetensors_path(f), path) == 0);

    const cr_tensor *w;
    CHECK_OK(cr_safetensors_expect(f, "fc.weight", CR_DTYPE_F32, 2, (int64_t[]){3, 4}, &w));
    CHECK_FAILS(cr_safetensors_expect(f, "fc.weight", CR_DTYPE_F32, 2, (int64_t[]){4, 3}, &w),
                CR_STATUS_DATA, "tensor \"fc.weight\" is F32 [3, 4], expected F32 [4, 3]");
    CHECK_FAILS(cr_safetensors_expect(f, "conv1.weight", CR_DTYPE_F32, 1, (int64_t[]){1}, &w),
                CR_STATUS_DATA, "sample.safetensors: no tensor named \"conv1.weight\"");
    cr_safetensors_close(f);

    /* the header is padded so the data starts 8-aligned, and the layout is deterministic */
    FILE *file = fopen(path, "rb");
    unsigned char length[8] = {0};
    CHECK(file && fread(length, 1, 8, file) == 8);
    if (file) fclose(file);
    CHECK(length[0] % 8 == 0);

    /* rewriting replaces the file; a file of no tensors is valid: "{}" padded to 8 bytes */
    CHECK_OK(cr_safetensors_write(path, NULL, 0, NULL, 0));
    char bytes[32] = {0};
    file = fopen(path, "rb");
    CHECK(file && fread(bytes, 1, sizeof bytes, file) == 16);
    if (file) fclose(file);
    CHECK(bytes[0] == 8 && memcmp(bytes + 8, "{}      ", 8) == 0);
    CHECK_OK(cr_safetensors_open(path, &f));
    CHECK(f && cr_safetensors_count(f) == 0 && cr_safetensors_metadata_count(f) == 0);
    cr_safetensors_close(f);
    CHECK(files_in_tmpdir() == 1);
    unlink(path);
}

static void test_writer_rejects_bad_input(void) {
    cr_named_tensor t[SAMPLE_COUNT];
    cr_metadata_entry meta[2];
    make_sample(t, meta);
    const char *path = tmp_path("bad.safetensors");
    cr_named_tensor twice[2] = {t[0], t[4]};
    twice[1].name = "fc.weight";
    CHECK_FAILS(cr_safetensors_write(path, twice, 2, NULL, 0), CR_STATUS_INVALID,
                "two tensors are named \"fc.weight\"");
    twice[1].name = "__metadata__";
    CHECK_FAILS(cr_safetensors_write(path, twice, 2, NULL, 0), CR_STATUS_INVALID,
                "name \"__metadata__\" is not allowed");
    twice[1].name = "";
    CHECK_FAILS(cr_safetensors_write(path, twice, 2, NULL, 0), CR_STATUS_INVALID, "not allowed");
    cr_named_tensor device = t[0];
    device.tensor.device = CR_DEVICE_CUDA;
    CHECK_FAILS(cr_safetensors_write(path, &device, 1, NULL, 0), CR_STATUS_INVALID,
                "not in host memory");
    cr_metadata_entry same_key[2] = {{"epoch", "1"}, {"epoch", "2"}};
    CHECK_FAILS(cr_safetensors_write(path, t, 1, same_key, 2), CR_STATUS_INVALID,
                "two metadata entries have the key \"epoch\"");
    cr_metadata_entry not_utf8[1] = {{"note", "\xff\xfe"}};
    CHECK_FAILS(cr_safetensors_write(path, t, 1, not_utf8, 1), CR_STATUS_INVALID, "UTF-8");
    CHECK(files_in_tmpdir() == 0);
    CHECK_FAILS(cr_safetensors_write("/nonexistent-dir/x.safetensors", t, 1, NULL, 0),
                CR_STATUS_IO, "/nonexistent-dir/x.safetensors");
}

/* A file image: the length prefix, `header` verbatim, then data_size bytes of 0xAB. */
static unsigned char *image(const char *header, size_t data_size, size_t *size) {
    size_t n = strlen(header);
    *size = 8 + n + data_size;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    memset(b + 8 + n, 0xAB, data_size);
    return b;
}

/* Parsing `header` over data_size bytes must fail with CR_STATUS_DATA and a message holding
 * both the label and `needle`. */
static void check_rejects(const char *header, size_t data_size, const char *needle, int line) {
    size_t size;
    unsigned char *b = image(header, data_size, &size);
    cr_safetensors *f = (cr_safetensors *)b; /* must be reset to NULL on failure */
    cr_status s = cr_safetensors_parse(b, size, "ckpt.safetensors", &f);
    cr_test_checks++;
    if (s != CR_STATUS_DATA || !strstr(cr_error_message(), needle) || f != NULL ||
        strncmp(cr_error_message(), "ckpt.safetensors: ", 18) != 0)
        cr_test_fail(__FILE__, line, "%s -> %s \"%s\", expected bad data containing \"%s\"",
                     header, cr_status_name(s), cr_error_message(), needle);
    cr_safetensors_close(s == CR_STATUS_OK ? f : NULL);
    free(b);
}
#define REJECTS(header, data_size, needle) check_rejects(header, data_size, needle, __LINE__)

static void test_reader_names_every_corruption(void) {
    const char *t = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char header[512];
    REJECTS("{\"a\":", 0, "header is not valid JSON");
    REJECTS("[1, 2]", 0, "header is not a JSON object");
    snprintf(header, sizeof header, "%s,\"a\":{}}", t);
    REJECTS(header, 8, "duplicate");
    REJECTS("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
            "tensor \"a\": unknown dtype \"F64\"");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
            "tensor \"a\": shape and dtype F32 need 12 bytes but data_offsets [0, 8] hold 8");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
            "shape[0] is not a non-negative integer");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
            "shape[0] is not a non-negative integer");
    REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            "7 dimensions, crescendo handles at most 6");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
            "data_offsets must be [begin, end]");
    REJECTS("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype missing");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "shape missing");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
            "unknown field \"x\"");
    REJECTS("{\"a\":[1]}", 0, "tensor \"a\": expected an object");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8,
            "data_offsets [8, 16] are outside the data section of 8 bytes");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
            "are outside the data section");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            "tensors \"a\" and \"b\" overlap: byte 4 belongs to both");
    REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
            "bytes [8, 12) of the data section belong to no tensor");
    REJECTS("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            "bytes [0, 4) of the data section belong to no tensor");
    snprintf(header, sizeof header, "%s}", t);
    REJECTS(header, 12, "the data section has 12 bytes but the tensors cover only the first 8");
    snprintf(header, sizeof header, "%s,\"__metadata__\":{\"epoch\":3}}", t);
    REJECTS(header, 8, "__metadata__ \"epoch\" is not a string");
    snprintf(header, sizeof header, "%s,\"__metadata__\":[\"x\"]}", t);
    REJECTS(header, 8, "__metadata__ is not an object of strings");
}

static void test_reader_checks_lengths(void) {
    unsigned char b[16] = {0};
    cr_safetensors *f;
    CHECK_FAILS(cr_safetensors_parse(b, 7, "short.safetensors", &f), CR_STATUS_DATA,
                "short.safetensors: file is 7 bytes, too short for the 8-byte header length");
    b[0] = 9; /* 9 header bytes, but only 8 follow */
    CHECK_FAILS(cr_safetensors_parse(b, 16, "cut.safetensors", &f), CR_STATUS_DATA,
                "cut.safetensors: header length 9 runs past the end of the file (16 bytes)");
    memset(b, 0, 8);
    b[3] = 0x10; /* 256 MiB */
    CHECK_FAILS(cr_safetensors_parse(b, 16, "big.safetensors", &f), CR_STATUS_DATA,
                "header length 268435456 is over the limit");
    b[3] = 0;
    b[7] = 0x80; /* 2^63: must not wrap around in the size arithmetic */
    CHECK_FAILS(cr_safetensors_parse(b, 16, "huge.safetensors", &f), CR_STATUS_DATA,
                "is over the limit");
    CHECK_FAILS(cr_safetensors_open(tmp_path("absent.safetensors"), &f), CR_STATUS_IO,
                "absent.safetensors");
    CHECK_FAILS(cr_safetensors_open(tmpdir, &f), CR_STATUS_IO, "not a regular file");

    /* a checkpoint cut short by a crash of another program: the last tensor runs off the end */
    cr_named_tensor t[SAMPLE_COUNT];
    cr_metadata_entry meta[2];
    make_sample(t, meta);
    const char *path = tmp_path("truncated.safetensors");
    CHECK_OK(cr_safetensors_write(path, t, SAMPLE_COUNT, meta, 2));
    struct stat info;
    CHECK(stat(path, &info) == 0);
    CHECK(truncate(path, info.st_size - 1) == 0);
    CHECK_FAILS(cr_safetensors_open(path, &f), CR_STATUS_DATA, "outside the data section");
    CHECK(strstr(cr_error_message(), "truncated.safetensors") != NULL);
    unlink(path);
}

/* Another writer may put a 4-byte tensor at an odd offset; the view must still be aligned. */
static void test_reader_aligns_foreign_layouts(void) {
    size_t size;
    unsigned char *b = image("{\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                             "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}",
                             11, &size);
    float w[2] = {1.5f, -2.25f};
    memcpy(b + size - 8, w, sizeof w);
    cr_safetensors *f = NULL;
    CHECK_OK(cr_safetensors_parse(b, size, "foreign", &f));
    const cr_tensor *got = f ? cr_safetensors_find(f, "w") : NULL;
    CHECK(got && (uintptr_t)got->data % 4 == 0);
    if (got) CHECK(((float *)got->data)[0] == 1.5f && ((float *)got->data)[1] == -2.25f);
    cr_safetensors_close(f);
    free(b);
}

static int write_sample(const char *path) {
    cr_named_tensor t[SAMPLE_COUNT];
    cr_metadata_entry meta[2];
    make_sample(t, meta);
    if (cr_safetensors_write(path, t, SAMPLE_COUNT, meta, 2) == CR_STATUS_OK) return 0;
    fprintf(stderr, "%s\n", cr_error_message());
    return 1;
}

/* {"metadata": {...}, "tensors": [{"name", "dtype", "shape", "hex", "aligned"}, ...]} */
static int dump(const char *path) {
    cr_safetensors *f;
    if (cr_safetensors_open(path, &f) != CR_STATUS_OK) {
        fprintf(stderr, "%s\n", cr_error_message());
        return 1;
    }
    json_t *root = json_object(), *meta = json_object(), *tensors = json_array();
    for (int i = 0; i < cr_safetensors_metadata_count(f); i++)
        json_object_set_new(meta, cr_safetensors_metadata_at(f, i)->key,
                            json_string(cr_safetensors_metadata_at(f, i)->value));
    for (int i = 0; i < cr_safetensors_count(f); i++) {
        const cr_named_tensor *t = cr_safetensors_at(f, i);
        json_t *shape = json_array();
        for (int d = 0; d < t->tensor.ndim; d++)
            json_array_append_new(shape, json_integer(t->tensor.shape[d]));
        size_t bytes = cr_tensor_bytes(&t->tensor);
        char *hex = malloc(2 * bytes + 1);
        for (size_t k = 0; k < bytes; k++)
            snprintf(hex + 2 * k, 3, "%02x", ((const unsigned char *)t->tensor.data)[k]);
        hex[2 * bytes] = '\0';
        int aligned = (uintptr_t)t->tensor.data % cr_dtype_size(t->tensor.dtype) == 0;
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:o, s:s, s:b}", "name", t->name,
                                                 "dtype", cr_dtype_name(t->tensor.dtype),
                                                 "shape", shape, "hex", hex, "aligned", aligned));
        free(hex);
    }
    json_object_set_new(root, "metadata", meta);
    json_object_set_new(root, "tensors", tensors);
    json_dumpf(root, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(root);
    cr_safetensors_close(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_sample(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cr_safetensors_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_writer_rejects_bad_input();
    test_reader_names_every_corruption();
    test_reader_checks_lengths();
    test_reader_aligns_foreign_layouts();
    remove_tmpdir();
    return cr_test_summary("safetensors");
}
