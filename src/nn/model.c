/* The model registry: names to builders, and the checks every model's configuration gets.
 * Adding an architecture is one builder file and one row here. */
#include <string.h>

#include "nn/models/models.h"

static const struct {
    const char *name;
    void (*build)(cr_graph *g, const cr_model_config *config);
    int min_resolution; /* the smallest side whose every window still fits */
} models[] = {
    {"resnet18", cr_build_resnet18, 32},
    {"resnet34", cr_build_resnet34, 32},
    {"resnet50", cr_build_resnet50, 32},
    {"simple_cnn", cr_build_simple_cnn, 8},
};
enum { MODEL_COUNT = sizeof models / sizeof models[0] };

const char *const *cr_model_names(void) {
    static const char *names[MODEL_COUNT + 1];
    for (int i = 0; i < MODEL_COUNT; i++) names[i] = models[i].name;
    return names;
}

int cr_model_min_resolution(const char *name) {
    for (int i = 0; i < MODEL_COUNT; i++)
        if (strcmp(models[i].name, name) == 0) return models[i].min_resolution;
    return 0;
}

cr_status cr_model_create(cr_backend *be, const char *name, const cr_model_config *config,
                          uint64_t seed, cr_graph **out) {
    int index = -1;
    for (int i = 0; i < MODEL_COUNT; i++)
        if (strcmp(models[i].name, name) == 0) index = i;
    if (index < 0)
        return cr_fail(CR_STATUS_INVALID, "unknown model '%s' (known: resnet18, resnet34, "
                       "resnet50, simple_cnn)", name);
    if (config->num_classes < 2)
        return cr_fail(CR_STATUS_INVALID, "a classifier needs at least 2 classes, not %d",
                       config->num_classes);
    if (!(config->dropout >= 0.0f && config->dropout < 1.0f))
        return cr_fail(CR_STATUS_INVALID, "dropout %g is not in [0, 1)", (double)config->dropout);
    cr_graph *g;
    CR_TRY(cr_graph_create(be, config->in_channels, &g));
    models[index].build(g, config);
    cr_status s = cr_graph_finalize(g, seed);
    if (s != CR_STATUS_OK) {
        cr_graph_destroy(g);
        return cr_fail_context(s, "building %s", name);
    }
    *out = g;
    return CR_STATUS_OK;
}
