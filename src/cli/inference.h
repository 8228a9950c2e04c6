/* inference.h — what eval and predict share: the options that run a checkpoint over images, the
 * model opened from the checkpoint at the chosen precision, and the pass those options ask for
 * (crescendo/inference.h), so that both commands see the same pixels and get the same scores. */
#ifndef CRESCENDO_CLI_INFERENCE_H
#define CRESCENDO_CLI_INFERENCE_H

#include "cli/datasets.h"
#include "cli/options.h"
#include "cli/precision.h"
#include "crescendo/backend.h"
#include "crescendo/checkpoint.h"
#include "crescendo/graph.h"
#include "crescendo/inference.h"

typedef struct cr_cli_inference_args {
    const char *checkpoint;
    int resolution, batch_size, precision, tta, workers, threads, max_image_pixels, jpeg_scale;
} cr_cli_inference_args;

extern const char *const cr_cli_ttas[]; /* "none", "flip": the index is the cr_tta */

/* The option-table entry of --checkpoint, for cr_cli_inference_args a. */
#define CR_CLI_CHECKPOINT_OPTION(a)                                                                \
    {"checkpoint", 0, CR_OPTION_STRING, &(a).checkpoint, .metavar = "FILE", .required = true,     \
     .help = "a .safetensors checkpoint written by crescendo train"}

/* The entries of the other options of cr_cli_inference_args a. */
#define CR_CLI_INFERENCE_OPTIONS(a)                                                                \
    {"resolution", 'r', CR_OPTION_INT, &(a).resolution, "0", .metavar = "PX", .min = 0,           \
     .max = 8192, .help = "run at this size; 0: the best size of the run's --test-res-search, or "  \
                           "else the size the model last trained at"},              \
    {"batch-size", 'b', CR_OPTION_INT, &(a).batch_size, "128", .min = 1, .max = 1 << 20,           \
     .help = "images per forward pass"},                                                           \
    CR_CLI_PRECISION_OPTION((a).precision),                                                        \
    {"tta", 0, CR_OPTION_ENUM, &(a).tta, "none", .choices = cr_cli_ttas,                           \
     .help = "test-time augmentation: none, or flip: the mean of the softmax of each image and "   \
             "of its left-right mirror"},                                                          \
    {"workers", 'j', CR_OPTION_INT, &(a).workers, "0", .min = 0, .max = 1024,                      \
     .help = "image-decoding threads; 0: one per core"},                                           \
    CR_CLI_JPEG_SCALE_OPTION((a).jpeg_scale, "the size"),                                          \
    {"threads", 0, CR_OPTION_INT, &(a).threads, "0", .min = 0, .max = 1024,                        \
     .help = "compute threads; 0: one per core"},                                                  \
    {"max-image-pixels", 0, CR_OPTION_INT, &(a).max_image_pixels, "178956970", .metavar = "N",     \
     .min = 1, .max = 2147483647,                                                                  \
     .help = "larger images fail (possible decompression bombs); PIL's limit by default"}

/* A checkpoint's model on the CPU backend, with the checkpoint's metadata. */
typedef struct cr_cli_model {
    cr_backend *backend;
    cr_graph *graph;
    cr_checkpoint_info info;
} cr_cli_model;

/* Creates the backend with a->threads, checks a->precision on it, loads a->checkpoint and sets
 * the model's precision. On failure nothing is left to close. */
cr_status cr_cli_model_open(const cr_cli_inference_args *a, cr_cli_model *m);
/* Releases what cr_cli_model_open made; a zeroed model is fine. */
void cr_cli_model_close(cr_cli_model *m);

/* The side the pass runs at: a->resolution; when it is 0, the best size of the test resolution
 * search of the run the checkpoint is in (its test_res_search.json), or else the size the model
 * last trained at. */
int cr_cli_inference_side(const cr_cli_inference_args *a, const cr_checkpoint_info *info);

/* The pass a asks for, with the checkpoint's channels and normalization. */
cr_inference_config cr_cli_inference_config(const cr_cli_inference_args *a,
                                            const cr_checkpoint_info *info);

#endif
