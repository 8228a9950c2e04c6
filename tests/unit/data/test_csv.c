/* Unit tests of the CSV reader: RFC 4180 quoting, line endings, the BOM, line numbers in
 * messages, and the errors a broken file gets; and of the field writer, read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/dataset.h"
#include "temp_tree.h"
#include "testing.h"

/* Opens text as a CSV named "t.csv"; the caller closes it. */
static cr_csv *open_text(const char *text, size_t length) {
    cr_csv *csv = NULL;
    CHECK_OK(cr_csv_open_memory("t.csv", text, length, &csv));
    return csv;
}

/* The next row has these line and fields. */
static void check_row(cr_csv *csv, int line, int count, const char *const *fields) {
    cr_csv_row row;
    cr_status s = cr_csv_next(csv, &row);
    CHECK(s == CR_STATUS_OK);
    if (s != CR_STATUS_OK) return;
    CHECK(row.line == line);
    CHECK(row.count == count);
    for (int i = 0; i < count && i < row.count; i++) {
        CHECK(strcmp(row.fields[i], fields[i]) == 0);
        if (strcmp(row.fields[i], fields[i]) != 0)
            fprintf(stderr, "  line %d field %d: got '%s', want '%s'\n", line, i, row.fields[i],
                    fields[i]);
    }
}

static void test_quoting_and_line_breaks(void) {
    const char text[] = "\xEF\xBB\xBF"
                        "class_name,image_path,target\r\n"
                        "\"T-shirt/top, long\",a.png,0\r\n"
                        "\"say \"\"hi\"\"\",\"two\nlines\",1\n"
                        "\n"
                        ",,\n"
                        "last,x,\"\"";
    cr_csv *csv = open_text(text, sizeof text - 1);
    check_row(csv, 1, 3, (const char *[]){"class_name", "image_path", "target"});
    check_row(csv, 2, 3, (const char *[]){"T-shirt/top, long", "a.png", "0"});
    check_row(csv, 3, 3, (const char *[]){"say \"hi\"", "two\nlines", "1"});
    check_row(csv, 6, 3, (const char *[]){"", "", ""}); /* after the empty line 5 */
    check_row(csv, 7, 3, (const char *[]){"last", "x", ""});
    cr_csv_row row;
    CHECK(cr_csv_next(csv, &row) == CR_STATUS_END);
    CHECK(cr_csv_next(csv, &row) == CR_STATUS_END);
    cr_csv_close(csv);
}

static void test_old_mac_line_ends_and_crlf_inside_quotes(void) {
    const char text[] = "a,b\r1,\"x\r\ny\"\r2,3\r";
    cr_csv *csv = open_text(text, sizeof text - 1);
    check_row(csv, 1, 2, (const char *[]){"a", "b"});
    check_row(csv, 2, 2, (const char *[]){"1", "x\r\ny"});
    check_row(csv, 4, 2, (const char *[]){"2", "3"});
    cr_csv_row row;
    CHECK(cr_csv_next(csv, &row) == CR_STATUS_END);
    cr_csv_close(csv);
}

static void test_header_columns(void) {
    const char text[] = " target , image_path,class_name\n";
    cr_csv *csv = open_text(text, sizeof text - 1);
    cr_csv_row header;
    CHECK_OK(cr_csv_next(csv, &header));
    CHECK(cr_csv_column(&header, "target") == 0);
    CHECK(cr_csv_column(&header, "image_path") == 1);
    CHECK(cr_csv_column(&header, "class_name") == 2);
    CHECK(cr_csv_column(&header, "class") == -1);
    cr_csv_close(csv);
}

static void test_malformed_text_names_the_line(void) {
    const char unclosed[] = "a,b\n1,2\n3,\"open\n\n";
    cr_csv *csv = open_text(unclosed, sizeof unclosed - 1);
    cr_csv_row row;
    CHECK_OK(cr_csv_next(csv, &row));
    CHECK_OK(cr_csv_next(csv, &row));
    CHECK_FAILS(cr_csv_next(csv, &row), CR_STATUS_DATA, "t.csv:3: a quoted field is never closed");
    cr_csv_close(csv);

    const char after_quote[] = "a,b\n\"x\"y,2\n";
    csv = open_text(after_quote, sizeof after_quote - 1);
    CHECK_OK(cr_csv_next(csv, &row));
    CHECK_FAILS(cr_csv_next(csv, &row), CR_STATUS_DATA, "t.csv:2: unexpected 'y' after a closing");
    cr_csv_close(csv);

    const char utf16[] = "a\0,b\0\n";
    csv = open_text(utf16, sizeof utf16 - 1);
    CHECK_FAILS(cr_csv_next(csv, &row), CR_STATUS_DATA, "t.csv:1: NUL byte");
    cr_csv_close(csv);
}

static void test_empty_and_blank_files_have_no_rows(void) {
    cr_csv_row row;
    cr_csv *csv = open_text("", 0);
    CHECK(cr_csv_next(csv, &row) == CR_STATUS_END);
    cr_csv_close(csv);
    csv = open_text("\xEF\xBB\xBF\r\n\n", 5);
    CHECK(cr_csv_next(csv, &row) == CR_STATUS_END);
    cr_csv_close(csv);
}

static void test_files(void) {
    temp_tree t;
    temp_tree_make(&t, "cr_csv_");
    char path[512];
    cr_csv *csv = NULL;
    CHECK_FAILS(cr_csv_open(temp_tree_path(&t, "missing.csv", path, sizeof path), &csv),
                CR_STATUS_IO, "missing.csv: cannot open");
    CHECK(csv == NULL);
    CHECK_FAILS(cr_csv_open(t.root, &csv), CR_STATUS_IO, "cannot read: Is a directory");
    /* Larger than the first read so the buffer grows. */
    size_t rows = 20000;
    char *text = malloc(rows * 16 + 16);
    size_t length = (size_t)sprintf(text, "k,v\n");
    for (size_t i = 0; i < rows; i++) length += (size_t)sprintf(text + length, "%zu,\"%zu\"\n", i, i);
    temp_tree_write(&t, "big.csv", text, length);
    free(text);
    CHECK_OK(cr_csv_open(temp_tree_path(&t, "big.csv", path, sizeof path), &csv));
    CHECK(strstr(cr_csv_name(csv), "big.csv") != NULL);
    cr_csv_row row;
    size_t n = 0, mismatched = 0;
    CHECK_OK(cr_csv_next(csv, &row));
    while (cr_csv_next(csv, &row) == CR_STATUS_OK) {
        char want[32];
        snprintf(want, sizeof want, "%zu", n);
        mismatched += row.count != 2 || strcmp(row.fields[0], want) || strcmp(row.fields[1], want) ||
                      row.line != (int)n + 2;
        n++;
    }
    CHECK(n == rows);
    CHECK(mismatched == 0);
    cr_csv_close(csv);
    temp_tree_remove(&t);
}

static void test_written_fields_read_back(void) {
    const char *fields[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\rlf", "", " spaced "};
    enum { N = sizeof fields / sizeof fields[0] };
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    CHECK(out != NULL);
    if (!out) return;
    for (int i = 0; i < N; i++) {
        if (i) fputc(',', out);
        cr_csv_write_field(out, fields[i]);
    }
    fputc('\n', out);
    fclose(out);
    /* Only the fields that need it are quoted; spaces are kept as they are. */
    CHECK(strcmp(text, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rlf\",, "
                       "spaced \n") == 0);
    cr_csv *csv = open_text(text, length);
    check_row(csv, 1, N, fields);
    cr_csv_close(csv);
    free(text);
}

int main(void) {
    test_quoting_and_line_breaks();
    test_old_mac_line_ends_and_crlf_inside_quotes();
    test_header_columns();
    test_malformed_text_names_the_line();
    test_empty_and_blank_files_have_no_rows();
    test_files();
    test_written_fields_read_back();
    return cr_test_summary("test_csv");
}
