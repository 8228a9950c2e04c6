/* The RFC 4180 CSV reader behind dataset CSVs and anything else tabular the project reads, and
 * the field writer of the CSVs it writes.
 * The file is held in memory and unquoted in place (a field never grows when its quotes go), so
 * every field is a NUL-terminated string inside one buffer and a row costs no allocation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/dataset.h"

struct cr_csv {
    char *name;          /* for messages */
    char *text;          /* (length + 1) the file, rewritten in place as records are read */
    size_t length;
    size_t pos;          /* next unread byte */
    int line;            /* line of text[pos], from 1 */
    const char **fields; /* (capacity) the fields of the current record */
    int capacity;
};

static cr_status csv_create(const char *name, char *text, size_t length, cr_csv **out) {
    cr_csv *csv = calloc(1, sizeof *csv);
    char *name_copy = strdup(name);
    if (!csv || !name_copy) {
        free(csv);
        free(name_copy);
        free(text);
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", name);
    }
    text[length] = '\0';
    csv->name = name_copy;
    csv->text = text;
    csv->length = length;
    csv->line = 1;
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    if (length >= 3 && memcmp(text, bom, 3) == 0) csv->pos = 3;
    *out = csv;
    return CR_STATUS_OK;
}

cr_status cr_csv_open_memory(const char *name, const char *text, size_t length, cr_csv **out) {
    *out = NULL;
    char *copy = malloc(length + 1);
    if (!copy) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory for %zu bytes", name, length);
    memcpy(copy, text, length);
    return csv_create(name, copy, length, out);
}

cr_status cr_csv_open(const char *path, cr_csv **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cr_fail(CR_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t length = 0, capacity = 1 << 16;
    char *text = malloc(capacity + 1);
    for (;;) {
        if (!text) {
            fclose(f);
            return cr_fail(CR_STATUS_NOMEM, "%s: out of memory reading the file", path);
        }
        length += fread(text + length, 1, capacity - length, f);
        if (length < capacity) break;
        capacity *= 2;
        char *grown = realloc(text, capacity + 1);
        if (!grown) free(text);
        text = grown;
    }
    int failed = ferror(f), error = errno;
    fclose(f);
    if (failed) {
        free(text);
        return cr_fail(CR_STATUS_IO, "%s: cannot read: %s", path, strerror(error));
    }
    return csv_create(path, text, length, out);
}

const char *cr_csv_name(const cr_csv *csv) { return csv->name; }

void cr_csv_close(cr_csv *csv) {
    if (!csv) return;
    free(csv->name);
    free(csv->text);
    free(csv->fields);
    free(csv);
}

/* Length of the line break at text[pos] (LF, CRLF or a lone CR), 0 when there is none. */
static size_t line_break(const cr_csv *csv, size_t pos) {
    if (pos >= csv->length) return 0;
    if (csv->text[pos] == '\n') return 1;
    if (csv->text[pos] == '\r') return pos + 1 < csv->length && csv->text[pos + 1] == '\n' ? 2 : 1;
    return 0;
}

static cr_status push_field(cr_csv *csv, int count, const char *field) {
    if (count == csv->capacity) {
        int capacity = csv->capacity ? 2 * csv->capacity : 16;
        const char **grown = realloc(csv->fields, (size_t)capacity * sizeof *grown);
        if (!grown) return cr_fail(CR_STATUS_NOMEM, "%s:%d: out of memory", csv->name, csv->line);
        csv->fields = grown;
        csv->capacity = capacity;
    }
    csv->fields[count] = field;
    return CR_STATUS_OK;
}

static cr_status nul_byte(const cr_csv *csv) {
    return cr_fail(CR_STATUS_DATA, "%s:%d: NUL byte in the text; is it a binary file, or saved as "
                   "UTF-16? Save it as UTF-8 text", csv->name, csv->line);
}

/* Unquotes the quoted field starting at text[pos] (the opening quote) into text + *write, and
 * leaves pos after the closing quote. */
static cr_status read_quoted(cr_csv *csv, char **write) {
    int start_line = csv->line;
    char *w = *write;
    csv->pos++;
    for (;;) {
        if (csv->pos >= csv->length)
            return cr_fail(CR_STATUS_DATA, "%s:%d: a quoted field is never closed (its quote "
                           "opens on this line)", csv->name, start_line);
        char c = csv->text[csv->pos];
        if (c == '"') {
            if (csv->pos + 1 < csv->length && csv->text[csv->pos + 1] == '"') {
                *w++ = '"';
                csv->pos += 2;
                continue;
            }
            csv->pos++;
            break;
        }
        if (c == '\0') return nul_byte(csv);
        size_t n = line_break(csv, csv->pos);
        if (n) {
            memmove(w, csv->text + csv->pos, n);
            w += n;
            csv->pos += n;
            csv->line++;
            continue;
        }
        *w++ = c;
        csv->pos++;
    }
    if (csv->pos < csv->length && csv->text[csv->pos] != ',' && !line_break(csv, csv->pos))
        return cr_fail(CR_STATUS_DATA, "%s:%d: unexpected '%c' after a closing quote (a quote "
                       "inside a quoted field is written twice: \"\")", csv->name, csv->line,
                       csv->text[csv->pos]);
    *write = w;
    return CR_STATUS_OK;
}

cr_status cr_csv_next(cr_csv *csv, cr_csv_row *row) {
    size_t n;
    while ((n = line_break(csv, csv->pos)) != 0) {
        csv->pos += n;
        csv->line++;
    }
    if (csv->pos >= csv->length) return CR_STATUS_END;
    row->line = csv->line;
    int count = 0;
    for (;;) {
        char *field = csv->text + csv->pos;
        char *w = field;
        if (*field == '"') {
            CR_TRY(read_quoted(csv, &w));
        } else {
            while (csv->pos < csv->length && csv->text[csv->pos] != ',' &&
                   !line_break(csv, csv->pos)) {
                if (csv->text[csv->pos] == '\0') return nul_byte(csv);
                csv->pos++;
            }
            w = csv->text + csv->pos;
        }
        /* Read the terminator before the NUL goes over it (an unquoted field ends right on it). */
        int comma = csv->pos < csv->length && csv->text[csv->pos] == ',';
        size_t end = line_break(csv, csv->pos);
        *w = '\0';
        CR_TRY(push_field(csv, count++, field));
        if (comma) {
            csv->pos++;
            continue;
        }
        csv->pos += end;
        if (end) csv->line++;
        break;
    }
    row->count = count;
    row->fields = csv->fields;
    return CR_STATUS_OK;
}

int cr_csv_column(const cr_csv_row *header, const char *name) {
    size_t length = strlen(name);
    for (int i = 0; i < header->count; i++) {
        const char *f = header->fields[i];
        while (*f == ' ' || *f == '\t') f++;
        size_t n = strlen(f);
        while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t')) n--;
        if (n == length && memcmp(f, name, n) == 0) return i;
    }
    return -1;
}

void cr_csv_write_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}
