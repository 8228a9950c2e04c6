/* The throwaway set-up that timings and the learning-rate finder train on: the run's model,
 * optimizer, step and loaders, made as the trainer makes them, then thrown away. */
#include "train/probe.h"

#include "crescendo/model.h"
#include "train/epoch.h"

void cr_probe_free(cr_probe *p) {
    cr_loader_destroy(p->val);
    cr_loader_destroy(p->train);
    cr_step_destroy(p->step);
    cr_optimizer_destroy(p->optimizer);
    cr_graph_destroy(p->graph);
}

cr_status cr_probe_create(cr_backend *be, const cr_train_config *c, cr_probe *p) {
    cr_model_config mc = {.num_classes = cr_dataset_num_classes(c->train),
                          .in_channels = c->channels, .dropout = c->dropout};
    CR_TRY(cr_model_create(be, c->model, &mc, c->seed, &p->graph));
    CR_TRY(cr_graph_set_precision(p->graph, c->precision));
    CR_TRY(cr_optimizer_create(be, &c->optimizer, cr_graph_params(p->graph),
                               cr_graph_param_count(p->graph), &p->optimizer));
    cr_step_config sc = {.label_smoothing = c->label_smoothing, .seed = c->seed,
                         .dist = c->dist, .clip_grad_norm = c->clip_grad_norm};
    CR_TRY(cr_step_create(p->graph, p->optimizer, &sc, &p->step));
    cr_loader_options lo = cr_epoch_loader_options(c);
    CR_TRY(cr_loader_create(c->train, &lo, &p->train));
    if (c->val) CR_TRY(cr_loader_create(c->val, &lo, &p->val));
    return CR_STATUS_OK;
}
