/* The builders behind cr_model_create, one per architecture family, each in its own file.
 * A builder only appends nodes; errors are collected by the graph and reported at finalize. */
#ifndef CR_NN_MODELS_H
#define CR_NN_MODELS_H

#include "crescendo/model.h"

void cr_build_resnet18(cr_graph *g, const cr_model_config *config);
void cr_build_resnet34(cr_graph *g, const cr_model_config *config);
void cr_build_resnet50(cr_graph *g, const cr_model_config *config);
void cr_build_simple_cnn(cr_graph *g, const cr_model_config *config);

#endif
