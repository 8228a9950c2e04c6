/* Option values read from and written to YAML files (-c FILE, runs/<name>/config.yaml), with libyaml.
 * A config is a flat mapping of option names to values, so one table serves both the command line
 * and the file, and every message names the file and line of the key at fault. */
#include "cli/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum { FILE_WHERE_MAX = 320, TEXT_MAX = 512 }; /* "path:line: name", a value */

/* Copies of string values read from files, owned here until cr_options_release_strings. */
static char **kept;
static size_t kept_count, kept_capacity;

static const char *keep_string(const char *text) {
    if (kept_count == kept_capacity) {
        size_t capacity = kept_capacity ? 2 * kept_capacity : 16;
        char **grown = realloc(kept, capacity * sizeof *grown);
        if (!grown) return NULL;
        kept = grown;
        kept_capacity = capacity;
    }
    char *copy = strdup(text);
    if (copy) kept[kept_count++] = copy;
    return copy;
}

void cr_options_release_strings(void) {
    for (size_t i = 0; i < kept_count; i++) free(kept[i]);
    free(kept);
    kept = NULL;
    kept_count = kept_capacity = 0;
}

static bool is_null(const yaml_node_t *node) {
    const char *text = (const char *)node->data.scalar.value;
    return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (text[0] == '\0' || strcmp(text, "~") == 0 || strcmp(text, "null") == 0);
}

/* The value's text: a scalar as written, a sequence of scalars joined with commas (lists). */
static cr_status value_text(yaml_document_t *doc, const cr_option *option, yaml_node_t *value,
                            const char *where, char *text) {
    if (value->type == YAML_SCALAR_NODE) {
        if (is_null(value)) return cr_fail(CR_STATUS_INVALID, "%s: needs a value", where);
        if (value->data.scalar.length >= TEXT_MAX)
            return cr_fail(CR_STATUS_INVALID, "%s: the value is longer than %d bytes", where,
                           TEXT_MAX - 1);
        memcpy(text, value->data.scalar.value, value->data.scalar.length + 1);
        return CR_STATUS_OK;
    }
    if (value->type != YAML_SEQUENCE_NODE || option->type != CR_OPTION_INT_LIST)
        return cr_fail(CR_STATUS_INVALID, "%s: expected a single value, not a %s", where,
                       value->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
    size_t used = 0;
    text[0] = '\0';
    for (yaml_node_item_t *item = value->data.sequence.items.start;
         item < value->data.sequence.items.top; item++) {
        yaml_node_t *node = yaml_document_get_node(doc, *item);
        if (node->type != YAML_SCALAR_NODE)
            return cr_fail(CR_STATUS_INVALID, "%s: list items must be single values", where);
        int n = snprintf(text + used, TEXT_MAX - used, "%s%s", used ? "," : "",
                         (const char *)node->data.scalar.value);
        if (n < 0 || used + (size_t)n >= TEXT_MAX)
            return cr_fail(CR_STATUS_INVALID, "%s: the list is too long", where);
        used += (size_t)n;
    }
    return CR_STATUS_OK;
}

static cr_status apply_pair(const cr_command_spec *spec, const char *path, yaml_document_t *doc,
                            yaml_node_pair_t *pair, const bool *skip, bool *given) {
    yaml_node_t *key = yaml_document_get_node(doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(doc, pair->value);
    size_t line = key->start_mark.line + 1;
    if (key->type != YAML_SCALAR_NODE)
        return cr_fail(CR_STATUS_INVALID, "%s:%zu: a key must be an option name", path, line);
    const char *name = (const char *)key->data.scalar.value;
    const cr_option *option = cr_options_find(spec->options, name);
    if (!option) {
        cr_nearest nearest = {.word = name};
        for (const cr_option *o = spec->options; o->name; o++)
            cr_nearest_consider(&nearest, o->name);
        if (nearest.best)
            return cr_fail(CR_STATUS_INVALID, "%s:%zu: unknown key \"%s\" (did you mean \"%s\"?)",
                           path, line, name, nearest.best);
        return cr_fail(CR_STATUS_INVALID, "%s:%zu: unknown key \"%s\" for crescendo %s", path, line,
                       name, spec->name);
    }
    ptrdiff_t index = option - spec->options;
    if (given[index])
        return cr_fail(CR_STATUS_INVALID, "%s:%zu: %s is given twice", path, line, option->name);
    given[index] = true;

    char where[FILE_WHERE_MAX], text[TEXT_MAX];
    snprintf(where, sizeof where, "%s:%zu: %s", path, line, option->name);
    CR_TRY(value_text(doc, option, value, where, text));
    if (skip && skip[index]) {
        /* The command line wins, but a bad value in the file is still an error. */
        union {
            bool flag;
            int integer;
            double number;
            const char *string;
            cr_int_list list;
        } scratch;
        cr_option check = *option;
        check.field = &scratch;
        return cr_option_set(&check, text, where);
    }
    const char *stored = text;
    if (option->type == CR_OPTION_STRING && !(stored = keep_string(text)))
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", where);
    return cr_option_set(option, stored, where);
}

static cr_status apply_document(const cr_command_spec *spec, const char *path,
                                yaml_document_t *doc, const bool *skip) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root) return CR_STATUS_OK; /* an empty file sets nothing */
    if (root->type != YAML_MAPPING_NODE)
        return cr_fail(CR_STATUS_INVALID,
                       "%s:%zu: expected a mapping of option names to values, like `epochs: 10`",
                       path, root->start_mark.line + 1);
    bool given[CR_OPTIONS_MAX] = {0};
    int count = 0;
    while (spec->options[count].name) count++;
    CR_ASSERT(count <= CR_OPTIONS_MAX);
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++)
        CR_TRY(apply_pair(spec, path, doc, pair, skip, given));
    return CR_STATUS_OK;
}

static cr_status parser_error(const yaml_parser_t *parser, const char *path) {
    if (parser->error == YAML_READER_ERROR)
        return cr_fail(CR_STATUS_INVALID, "%s: %s at byte %zu", path, parser->problem,
                       parser->problem_offset);
    return cr_fail(CR_STATUS_INVALID, "%s:%zu: %s%s%s", path, parser->problem_mark.line + 1,
                   parser->problem ? parser->problem : "malformed YAML",
                   parser->context ? " " : "", parser->context ? parser->context : "");
}

static cr_status load_file(const cr_command_spec *spec, const char *path, FILE *file,
                           const bool *skip) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_file(&parser, file);
    yaml_document_t doc;
    cr_status status = CR_STATUS_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        status = parser_error(&parser, path);
    } else {
        status = apply_document(spec, path, &doc, skip);
        yaml_document_delete(&doc);
        /* A second document would be silently ignored; say so instead. */
        if (status == CR_STATUS_OK && !yaml_parser_load(&parser, &doc)) {
            status = parser_error(&parser, path);
        } else if (status == CR_STATUS_OK) {
            yaml_node_t *extra = yaml_document_get_root_node(&doc);
            if (extra)
                status = cr_fail(CR_STATUS_INVALID, "%s:%zu: only one YAML document is read", path,
                                 extra->start_mark.line + 1);
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return status;
}

cr_status cr_options_load_yaml(const cr_command_spec *spec, const char *path, const bool *skip) {
    FILE *file = fopen(path, "rb");
    if (!file) return cr_fail(CR_STATUS_IO, "cannot open %s: %s", path, strerror(errno));
    cr_status status = load_file(spec, path, file, skip);
    fclose(file);
    return status;
}

/* ---- writing ------------------------------------------------------------------------------- */

static bool emit_scalar(yaml_emitter_t *emitter, const char *text, yaml_scalar_style_t style) {
    yaml_event_t event;
    return yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                        1, 1, style) &&
           yaml_emitter_emit(emitter, &event);
}

/* The shortest decimal that reads back as the same double: 0.1 stays "0.1". */
static void format_double(double value, char *text, size_t size) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, size, "%.*g", digits, value);
        if (strtod(text, NULL) == value) return;
    }
}

static bool emit_value(yaml_emitter_t *emitter, const cr_option *option) {
    char text[64];
    yaml_event_t event;
    switch (option->type) {
    case CR_OPTION_FLAG:
        return emit_scalar(emitter, *(const bool *)option->field ? "true" : "false",
                           YAML_PLAIN_SCALAR_STYLE);
    case CR_OPTION_INT:
        snprintf(text, sizeof text, "%d", *(const int *)option->field);
        return emit_scalar(emitter, text, YAML_PLAIN_SCALAR_STYLE);
    case CR_OPTION_FLOAT:
        format_double(*(const double *)option->field, text, sizeof text);
        return emit_scalar(emitter, text, YAML_PLAIN_SCALAR_STYLE);
    case CR_OPTION_STRING:
        /* Quoted, so that a path such as "true" or "10" stays a string for any reader. */
        return emit_scalar(emitter, *(const char *const *)option->field,
                           YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    case CR_OPTION_ENUM:
        return emit_scalar(emitter, option->choices[*(const int *)option->field],
                           YAML_PLAIN_SCALAR_STYLE);
    case CR_OPTION_INT_LIST: {
        const cr_int_list *list = option->field;
        if (!yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(emitter, &event))
            return false;
        for (int i = 0; i < list->count; i++) {
            snprintf(text, sizeof text, "%d", list->values[i]);
            if (!emit_scalar(emitter, text, YAML_PLAIN_SCALAR_STYLE)) return false;
        }
        return yaml_sequence_end_event_initialize(&event) && yaml_emitter_emit(emitter, &event);
    }
    }
    return false;
}

static bool emit_options(yaml_emitter_t *emitter, const cr_command_spec *spec) {
    yaml_event_t event;
    if (!yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(emitter, &event) ||
        !yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(emitter, &event) ||
        !yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(emitter, &event))
        return false;
    for (const cr_option *o = spec->options; o->name; o++) {
        if (o->no_save || !cr_option_has_value(o)) continue;
        if (!emit_scalar(emitter, o->name, YAML_PLAIN_SCALAR_STYLE) || !emit_value(emitter, o))
            return false;
    }
    return yaml_mapping_end_event_initialize(&event) && yaml_emitter_emit(emitter, &event) &&
           yaml_document_end_event_initialize(&event, 1) && yaml_emitter_emit(emitter, &event) &&
           yaml_stream_end_event_initialize(&event) && yaml_emitter_emit(emitter, &event) &&
           yaml_emitter_flush(emitter);
}

cr_status cr_options_write_yaml(const cr_command_spec *spec, FILE *out, const char *name) {
    fprintf(out, "# crescendo %s: the resolved options; rerun with `crescendo %s -c <this file>`\n",
            spec->name, spec->name);
    yaml_emitter_t emitter;
    if (!yaml_emitter_initialize(&emitter)) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", name);
    yaml_emitter_set_output_file(&emitter, out);
    yaml_emitter_set_unicode(&emitter, 1);
    bool emitted = emit_options(&emitter, spec);
    cr_status status = CR_STATUS_OK;
    if (!emitted)
        status = cr_fail(emitter.error == YAML_WRITER_ERROR ? CR_STATUS_IO : CR_STATUS_INTERNAL,
                         "%s: cannot write the options: %s", name,
                         emitter.problem ? emitter.problem : "emitter error");
    yaml_emitter_delete(&emitter);
    if (status == CR_STATUS_OK && (fflush(out) != 0 || ferror(out)))
        status = cr_fail(CR_STATUS_IO, "%s: cannot write the options: %s", name, strerror(errno));
    return status;
}

cr_status cr_options_save_yaml(const cr_command_spec *spec, const char *path) {
    /* Written beside and renamed over, so that a crash never leaves half a config. */
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s.partial", path) >= (int)sizeof partial)
        return cr_fail(CR_STATUS_INVALID, "%s: path too long", path);
    FILE *file = fopen(partial, "wb");
    if (!file) return cr_fail(CR_STATUS_IO, "cannot create %s: %s", partial, strerror(errno));
    cr_status status = cr_options_write_yaml(spec, file, path);
    if (fclose(file) != 0 && status == CR_STATUS_OK)
        status = cr_fail(CR_STATUS_IO, "cannot write %s: %s", partial, strerror(errno));
    if (status == CR_STATUS_OK && rename(partial, path) != 0)
        status = cr_fail(CR_STATUS_IO, "cannot rename %s to %s: %s", partial, path, strerror(errno));
    if (status != CR_STATUS_OK) remove(partial);
    return status;
}
