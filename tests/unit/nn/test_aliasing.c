/* Which buffers the activation plan shares (in-place ops, views, gradients passed through) on small
 * graphs, and training steps through them held to references that share nothing. */
#include <stdlib.h>

#include "graph_check.h"

enum { BATCH = 4, SIDE = 6, CLASSES = 5, MAX_NODES = 16, MAX_RANGES = 2 * MAX_NODES + 1 };

/* Which node's buffer each node is expected to use for its output and its gradient. */
typedef struct sharing {
    int out[MAX_NODES], grad[MAX_NODES];
    bool fused[MAX_NODES]; /* a relu that runs inside the batchnorm or add before it */
} sharing;

static sharing own_buffers(void) {
    sharing s = {0};
    for (int i = 0; i < MAX_NODES; i++) s.out[i] = s.grad[i] = i;
    return s;
}

typedef enum buffer_kind { OUTPUT, GRADIENT, SCRATCH } buffer_kind;
static const char *const kind_names[] = {"output", "gradient", "scratch"};

typedef struct range {
    const char *base;
    size_t bytes;
    buffer_kind kind;
    int owner; /* the node whose buffer it is expected to be */
    int node;
} range;

/* The flags run.c reads: a gradient that is a consumer's needs no write, and a fused relu does
 * nothing forward because its batchnorm or add (whose fused_relu is set) runs it. */
static void check_flags(const cr_graph *g, const sharing *want, const char *what) {
    bool fused_relu[MAX_NODES] = {false};
    for (int i = 1; i < g->node_count; i++)
        if (want->fused[i]) fused_relu[g->nodes[i].inputs[0]] = true;
    for (int i = 1; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        cr_test_checks++;
        if (node->grad_is_alias != (want->grad[i] != i) || node->fused != want->fused[i] ||
            node->fused_relu != fused_relu[i])
            cr_test_fail(__FILE__, __LINE__, "%s: node %d has grad_is_alias %d, fused %d, "
                         "fused_relu %d", what, i, node->grad_is_alias, node->fused,
                         node->fused_relu);
    }
}

/* Buffers the expectation says are one must be the same address; every other pair of buffers
 * (outputs, gradients and the scratch second contributions are summed through) must not overlap. */
static void check_sharing(const cr_graph *g, const sharing *want, const char *what) {
    CHECK(g->node_count <= MAX_NODES);
    if (g->node_count > MAX_NODES) return;
    check_flags(g, want, what);
    range ranges[MAX_RANGES];
    int count = 0;
    size_t largest = 0;
    for (int i = 0; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        size_t bytes = cr_node_bytes(node, g->batch);
        if (cr_node_size(node) > largest) largest = cr_node_size(node);
        ranges[count++] = (range){node->out, bytes, OUTPUT, want->out[i], i};
        if (i > 0) ranges[count++] = (range){node->grad, bytes, GRADIENT, want->grad[i], i};
    }
    ranges[count++] = (range){g->scratch, largest * (size_t)g->batch * sizeof(float), SCRATCH, -1,
                              -1};
    for (int a = 0; a < count; a++)
        for (int b = a + 1; b < count; b++) {
            const range *x = &ranges[a], *y = &ranges[b];
            bool shared = x->kind == y->kind && x->kind != SCRATCH && x->owner == y->owner;
            bool overlap = x->base < y->base + y->bytes && y->base < x->base + x->bytes;
            cr_test_checks++;
            if (shared ? x->base != y->base : overlap)
                cr_test_fail(__FILE__, __LINE__, "%s: the %s of node %d and the %s of node %d %s",
                             what, kind_names[x->kind], x->node, kind_names[y->kind], y->node,
                             shared ? "should be one buffer and are not" : "overlap");
        }
}

/* A test graph: appends its nodes to g and writes into `want` which buffers the plan should share
 * (and which ReLUs it should fuse). `op` is the in-place op the case puts where it matters. */
typedef int (*in_place_op)(cr_graph *g, int input);
typedef void (*build_fn)(cr_graph *g, in_place_op op, sharing *want);

static int dropout_half(cr_graph *g, int input) { return cr_graph_dropout(g, input, 0.5f); }

static cr_graph *build_planned(cr_backend *be, build_fn build, in_place_op op, cr_dtype precision,
                               sharing *want) {
    cr_graph *g;
    CHECK_OK(cr_graph_create(be, 3, &g));
    *want = own_buffers();
    build(g, op, want);
    CHECK_OK(cr_graph_finalize(g, 3));
    CHECK_OK(cr_graph_set_precision(g, precision));
    cr_graph_set_dropout_seed(g, 17, 4);
    CHECK_OK(cr_graph_plan(g, BATCH, SIDE, SIDE));
    return g;
}

/* Plans the case's graph and checks what it shares; then a training step, bit for bit the
 * unshared twin's, and in fp32 within rounding of the double reference. */
static void check_case(cr_backend *be, cr_dtype precision, build_fn build, in_place_op op,
                       const char *what) {
    char label[160];
    snprintf(label, sizeof label, "%.120s (%s)", what, cr_dtype_name(precision));
    sharing want, unused;
    cr_graph *g = build_planned(be, build, op, precision, &want);
    cr_graph *twin = build_planned(be, build, op, precision, &unused);
    check_sharing(g, &want, label);
    nn_unshared private_buffers = nn_unshare(twin);

    float *images = nn_images(g, BATCH, 5);
    const int32_t labels[BATCH] = {3, 1, 0, 4};
    nn_step shared = nn_step_run(g, images, labels, BATCH);
    nn_step unshared = nn_step_run(twin, images, labels, BATCH);
    nn_check_same_step(&shared, &unshared, label);
    if (precision == CR_DTYPE_F32) {
        ref_net r = nn_check_reference(g, label, images, labels, BATCH);
        ref_destroy(&r);
    }
    nn_step_free(&shared);
    nn_step_free(&unshared);
    free(images);
    nn_unshared_free(&private_buffers);
    cr_graph_destroy(twin);
    cr_graph_destroy(g);
}

/* conv -> op -> dropout -> conv -> bn -> relu -> dropout -> pool 1x1 -> flatten -> dropout ->
 * linear. The op and the dropouts overwrite what they read, the bn's relu runs inside it (its
 * backward then reads a mask from an output the dropout after it overwrote), the flatten of a 1x1
 * map is a view and the last dropout overwrites the pooling's output. Gradients run back through
 * each in place: the first conv's gradient is the first dropout's, the bn's the second's, the
 * pool's the last's. */
static void build_chain(cr_graph *g, in_place_op op, sharing *want) {
    int conv = cr_graph_conv2d(g, CR_GRAPH_INPUT, "conv", 4, 3, 1, 1, 1, true);
    int act = op(g, conv);
    int drop = cr_graph_dropout(g, act, 0.3f);
    int conv2 = cr_graph_conv2d(g, drop, "conv2", 4, 3, 1, 1, 1, false);
    int bn = cr_graph_batchnorm(g, conv2, "bn");
    int relu = cr_graph_relu(g, bn);
    int drop2 = cr_graph_dropout(g, relu, 0.2f);
    int pool = cr_graph_adaptive_avgpool(g, drop2, 1, 1);
    int flat = cr_graph_flatten(g, pool);
    int drop3 = cr_graph_dropout(g, flat, 0.25f);
    cr_graph_linear(g, drop3, "fc", CLASSES, true);
    want->out[act] = want->out[drop] = conv;
    want->grad[conv] = want->grad[act] = drop;
    want->out[relu] = want->out[drop2] = bn;
    want->grad[bn] = want->grad[relu] = drop2;
    want->fused[relu] = true;
    want->out[flat] = want->out[drop3] = pool;
    want->grad[pool] = want->grad[flat] = drop3;
}

/* conv c, read by the op and by a 1x1 conv: with two readers the op must write a buffer of its
 * own, or the 1x1 conv would read c through it. The two branches meet at an add whose inputs take
 * its gradient as their own, and the relu after the add overwrites it and runs inside it. */
static void build_two_readers(cr_graph *g, in_place_op op, sharing *want) {
    int c = cr_graph_conv2d(g, CR_GRAPH_INPUT, "c", 4, 3, 1, 1, 1, true);
    int act = op(g, c);
    int left = cr_graph_conv2d(g, act, "left", 4, 3, 1, 1, 1, false);
    int right = cr_graph_conv2d(g, c, "right", 4, 1, 1, 0, 1, true);
    int sum = cr_graph_add(g, left, right);
    int relu = cr_graph_relu(g, sum);
    int pool = cr_graph_adaptive_avgpool(g, relu, 1, 1);
    int flat = cr_graph_flatten(g, pool);
    cr_graph_linear(g, flat, "fc", CLASSES, true);
    want->out[relu] = sum;
    want->fused[relu] = true;
    want->grad[left] = want->grad[right] = want->grad[sum] = relu;
    want->out[flat] = pool;
    want->grad[pool] = flat;
}

/* An add of the op, which overwrote its conv, and a 1x1 shortcut conv. The shortcut takes the
 * add's gradient as its own; the op must keep a gradient buffer of its own, because its backward
 * rewrites its gradient in place before the shortcut's backward reads the add's. */
static void build_add_of_in_place(cr_graph *g, in_place_op op, sharing *want) {
    int stem = cr_graph_conv2d(g, CR_GRAPH_INPUT, "stem", 4, 3, 1, 1, 1, false);
    int bn = cr_graph_batchnorm(g, stem, "bn");
    int x = cr_graph_relu(g, bn);
    int shortcut = cr_graph_conv2d(g, x, "shortcut", 4, 1, 1, 0, 1, false);
    int conv = cr_graph_conv2d(g, x, "conv", 4, 3, 1, 1, 1, true);
    int act = op(g, conv);
    int sum = cr_graph_add(g, act, shortcut);
    int relu = cr_graph_relu(g, sum);
    int pool = cr_graph_adaptive_avgpool(g, relu, 1, 1);
    int flat = cr_graph_flatten(g, pool);
    cr_graph_linear(g, flat, "fc", CLASSES, true);
    want->out[x] = bn;
    want->grad[bn] = x;
    want->fused[x] = true;
    want->out[act] = conv;
    want->grad[conv] = act;
    want->grad[shortcut] = want->grad[sum] = relu;
    want->out[relu] = sum;
    want->fused[relu] = true;
    want->out[flat] = pool;
    want->grad[pool] = flat;
}

/* The same through a view: the op on a pooled 1x1 map, flattened (a view, so the op's gradient is
 * the flatten's) into an add with a linear layer built earlier. The flatten must keep its own
 * gradient: the add's, shared, would be rewritten by the op's in-place backward before the linear
 * layer's backward, which runs later, reads it. */
static void build_add_of_in_place_view(cr_graph *g, in_place_op op, sharing *want) {
    int conv = cr_graph_conv2d(g, CR_GRAPH_INPUT, "conv", 4, 3, 1, 1, 1, true);
    int pool = cr_graph_adaptive_avgpool(g, conv, 1, 1);
    int flat = cr_graph_flatten(g, pool);
    int mix = cr_graph_linear(g, flat, "mix", 4, true);
    int pool2 = cr_graph_adaptive_avgpool(g, conv, 1, 1);
    int act = op(g, pool2);
    int flat2 = cr_graph_flatten(g, act);
    int sum = cr_graph_add(g, flat2, mix);
    cr_graph_linear(g, sum, "fc", CLASSES, true);
    want->out[flat] = pool;
    want->grad[pool] = flat;
    want->out[act] = want->out[flat2] = pool2;
    want->grad[pool2] = want->grad[act] = flat2;
    want->grad[mix] = sum;
}

/* Every case at one precision, with each in-place op: one more precision is one more call. */
static void run_cases(cr_backend *be, cr_dtype precision) {
    static const struct {
        build_fn build;
        const char *what;
    } cases[] = {
        {build_chain, "ops in place in a chain"},
        {build_two_readers, "a node with two readers"},
        {build_add_of_in_place, "an add of an op in place"},
        {build_add_of_in_place_view, "an add of an op in place through a view"},
    };
    static const struct {
        in_place_op op;
        const char *name;
    } ops[] = {{cr_graph_relu, "relu"}, {dropout_half, "dropout"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            char what[120];
            snprintf(what, sizeof what, "%.80s, %.20s", cases[c].what, ops[o].name);
            check_case(be, precision, cases[c].build, ops[o].op, what);
        }
}

int main(void) {
    cr_backend *be = gc_backend();
    cr_log_set_sink(gc_log, &gc_warnings, CR_LOG_WARN);
    nn_each_precision(be, run_cases);
    cr_backend_destroy(be);
    return cr_test_summary("nn/aliasing");
}
