/* simple_cnn: the usual small network for 28x28 images, 3 x [conv3x3-BN-ReLU-maxpool] (32, 64,
 * 128 channels), then an MLP head; an adaptive pool to 3x3 lets it train at any size >= 8. */
#include "nn/models/models.h"

void cr_build_simple_cnn(cr_graph *g, const cr_model_config *config) {
    static const char *convs[3] = {"features.0", "features.4", "features.8"};
    static const char *norms[3] = {"features.1", "features.5", "features.9"};
    int x = CR_GRAPH_INPUT;
    for (int i = 0; i < 3; i++) {
        x = cr_graph_conv2d(g, x, convs[i], 32 << i, 3, 1, 1, 1, false);
        x = cr_graph_relu(g, cr_graph_batchnorm(g, x, norms[i]));
        x = cr_graph_maxpool(g, x, 2, 2, 0);
    }
    x = cr_graph_flatten(g, cr_graph_adaptive_avgpool(g, x, 3, 3));
    x = cr_graph_dropout(g, x, config->dropout);
    x = cr_graph_relu(g, cr_graph_linear(g, x, "head.2", 256, true));
    x = cr_graph_dropout(g, x, config->dropout);
    cr_graph_linear(g, x, "head.5", config->num_classes, true);
}
