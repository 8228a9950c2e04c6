/* ResNet-18/34/50 with torchvision's structure and parameter names (He et al. 2015; the v1.5
 * bottleneck, stride on the 3x3 convolution), so state dicts move both ways unchanged. */
#include <stdio.h>
#include <string.h>

#include "nn/models/models.h"

/* conv -> bn, named "<prefix>.conv<i>" and "<prefix>.bn<i>". */
static int conv_bn(cr_graph *g, int x, const char *prefix, int i, int out, int kernel, int stride) {
    char conv[CR_PARAM_NAME_MAX], bn[CR_PARAM_NAME_MAX];
    snprintf(conv, sizeof conv, "%s.conv%d", prefix, i);
    snprintf(bn, sizeof bn, "%s.bn%d", prefix, i);
    x = cr_graph_conv2d(g, x, conv, out, kernel, stride, kernel / 2, 1, false);
    return cr_graph_batchnorm(g, x, bn);
}

/* The shortcut: identity, or a strided 1x1 conv and bn ("<prefix>.downsample.0/1"). */
static int shortcut(cr_graph *g, int x, const char *prefix, int in, int out, int stride) {
    if (stride == 1 && in == out) return x;
    char conv[CR_PARAM_NAME_MAX], bn[CR_PARAM_NAME_MAX];
    snprintf(conv, sizeof conv, "%s.downsample.0", prefix);
    snprintf(bn, sizeof bn, "%s.downsample.1", prefix);
    x = cr_graph_conv2d(g, x, conv, out, 1, stride, 0, 1, false);
    return cr_graph_batchnorm(g, x, bn);
}

static int basic_block(cr_graph *g, int x, const char *prefix, int in, int planes, int stride) {
    int y = conv_bn(g, x, prefix, 1, planes, 3, stride);
    y = cr_graph_relu(g, y);
    y = conv_bn(g, y, prefix, 2, planes, 3, 1);
    int s = shortcut(g, x, prefix, in, planes, stride);
    return cr_graph_relu(g, cr_graph_add(g, y, s));
}

static int bottleneck(cr_graph *g, int x, const char *prefix, int in, int planes, int stride) {
    int y = cr_graph_relu(g, conv_bn(g, x, prefix, 1, planes, 1, 1));
    y = cr_graph_relu(g, conv_bn(g, y, prefix, 2, planes, 3, stride));
    y = conv_bn(g, y, prefix, 3, planes * 4, 1, 1);
    int s = shortcut(g, x, prefix, in, planes * 4, stride);
    return cr_graph_relu(g, cr_graph_add(g, y, s));
}

static void build_resnet(cr_graph *g, const cr_model_config *config, const int blocks[4],
                         bool use_bottleneck) {
    int x = cr_graph_conv2d(g, CR_GRAPH_INPUT, "conv1", 64, 7, 2, 3, 1, false);
    x = cr_graph_relu(g, cr_graph_batchnorm(g, x, "bn1"));
    x = cr_graph_maxpool(g, x, 3, 2, 1);
    int expansion = use_bottleneck ? 4 : 1;
    int channels = 64;
    for (int layer = 0; layer < 4; layer++) {
        int planes = 64 << layer;
        for (int b = 0; b < blocks[layer]; b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d", layer + 1, b);
            int stride = layer > 0 && b == 0 ? 2 : 1;
            x = use_bottleneck ? bottleneck(g, x, prefix, channels, planes, stride)
                               : basic_block(g, x, prefix, channels, planes, stride);
            channels = planes * expansion;
        }
    }
    x = cr_graph_flatten(g, cr_graph_adaptive_avgpool(g, x, 1, 1));
    if (config->dropout > 0.0f) x = cr_graph_dropout(g, x, config->dropout);
    cr_graph_linear(g, x, "fc", config->num_classes, true);
}

void cr_build_resnet18(cr_graph *g, const cr_model_config *config) {
    build_resnet(g, config, (const int[4]){2, 2, 2, 2}, false);
}

void cr_build_resnet34(cr_graph *g, const cr_model_config *config) {
    build_resnet(g, config, (const int[4]){3, 4, 6, 3}, false);
}

void cr_build_resnet50(cr_graph *g, const cr_model_config *config) {
    build_resnet(g, config, (const int[4]){3, 4, 6, 3}, true);
}
