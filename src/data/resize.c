/* Antialiased bilinear resize, equal bit for bit to PIL's Image.resize(BILINEAR): the same
 * coefficients (computed in double, rounded to 22-bit fixed point) and the same two passes, each
 * rounded to 8 bits. Both passes run one vectorized kernel over 64 contiguous samples: the
 * vertical pass along rows, the horizontal pass down blocks of rows transposed into columns. */
#include <math.h>
#include <string.h>

#include "crescendo/arena.h"
#include "crescendo/transform.h"
#include "data/resize.h"

static const int32_t HALF = 1 << (CR_RESIZE_BITS - 1);
enum { SPAN = 64 }; /* samples per block of either pass: four AVX-512 registers of int32 sums */
/* Each weight rounds up by at most 1/2 in 22-bit fixed point, so a sum can exceed 255 * 2^22 by
 * 255 * taps / 2; bounding the reduction bounds taps and keeps every sum inside int32. */
enum { MAX_REDUCTION = 1 << 16 };

/* The triangle filter has support 1; reducing by a factor s stretches it to s input pixels. */
static double filter_scale(int in_size, int out_size) {
    double scale = (double)in_size / out_size;
    return scale < 1.0 ? 1.0 : scale;
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int axis_taps(int in_size, int out_size) {
    return (int)ceil(filter_scale(in_size, out_size)) * 2 + 1;
}

static size_t axis_bytes(int in_size, int out_size) {
    size_t n = (size_t)out_size;
    return 2 * cr_align_up(n * sizeof(int32_t), CR_ARENA_ALIGN) +
           cr_align_up(n * (size_t)axis_taps(in_size, out_size) * sizeof(int32_t), CR_ARENA_ALIGN);
}

static char *axis_init(cr_resize_axis *a, int in_size, int out_size, char *memory) {
    size_t n = (size_t)out_size;
    a->in_size = in_size;
    a->out_size = out_size;
    a->taps = axis_taps(in_size, out_size);
    a->start = (int32_t *)memory;
    memory += cr_align_up(n * sizeof(int32_t), CR_ARENA_ALIGN);
    a->count = (int32_t *)memory;
    memory += cr_align_up(n * sizeof(int32_t), CR_ARENA_ALIGN);
    a->coeffs = (int32_t *)memory;
    memory += cr_align_up(n * (size_t)a->taps * sizeof(int32_t), CR_ARENA_ALIGN);

    double scale = (double)in_size / out_size, filterscale = filter_scale(in_size, out_size);
    double support = filterscale, inverse = 1.0 / filterscale;
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int count = hi - lo;
        CR_ASSERT(count >= 1 && count <= a->taps);
        /* the weights are evaluated twice (sum, then normalized) rather than kept, so no
         * buffer of `taps` doubles is needed however large the reduction */
        double sum = 0.0;
        for (int t = 0; t < count; t++) sum += triangle((t + lo - center + 0.5) * inverse);
        int32_t *k = a->coeffs + (size_t)i * a->taps;
        for (int t = 0; t < a->taps; t++) {
            double w = t < count && sum != 0.0 ? triangle((t + lo - center + 0.5) * inverse) / sum
                                               : 0.0;
            k[t] = (int32_t)(0.5 + w * (1 << CR_RESIZE_BITS)); /* w >= 0: rounds half up */
        }
        a->start[i] = lo;
        a->count[i] = count;
    }
    return memory;
}

size_t cr_resize_plan_bytes(int in_width, int in_height, int out_width, int out_height,
                            int channels) {
    return axis_bytes(in_width, out_width) + axis_bytes(in_height, out_height) +
           (size_t)in_width * SPAN +
           cr_align_up((size_t)in_height * (size_t)out_width * (size_t)channels, CR_ARENA_ALIGN);
}

void cr_resize_plan_init(cr_resize_plan *plan, int in_width, int in_height, int out_width,
                         int out_height, int channels, void *memory) {
    char *next = memory;
    plan->channels = channels;
    next = axis_init(&plan->horizontal, in_width, out_width, next);
    next = axis_init(&plan->vertical, in_height, out_height, next);
    const cr_resize_axis *v = &plan->vertical;
    plan->first_row = v->start[0];
    plan->last_row = v->start[out_height - 1] + v->count[out_height - 1];
    plan->columns = (uint8_t *)next;
    plan->between = plan->columns + (size_t)in_width * SPAN;
}

static inline uint8_t to_u8(int32_t sum) {
    int32_t v = sum >> CR_RESIZE_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* dst[j] = sum over t of src[t * stride + j] * k[t], for j < len <= SPAN: the one kernel both
 * passes use, over contiguous samples, so the compiler vectorizes it. */
static inline void filter_span(const uint8_t *src, size_t stride, const int32_t *k, int n,
                               uint8_t *dst, int len) {
    int32_t sum[SPAN];
    for (int j = 0; j < len; j++) sum[j] = HALF;
    for (int t = 0; t < n; t++) {
        const uint8_t *s = src + (size_t)t * stride;
        int32_t w = k[t];
        for (int j = 0; j < len; j++) sum[j] += s[j] * w;
    }
    for (int j = 0; j < len; j++) dst[j] = to_u8(sum[j]);
}

/* Copies one pixel of `channels` bytes. For 3 channels it moves 4 bytes, one more than the pixel,
 * which is cheaper than 2 + 1; callers use it only where that extra byte is read from inside the
 * buffer and written where a later copy (or nothing) will use it. */
static inline void copy_pixel_wide(uint8_t *dst, const uint8_t *src, int channels) {
    if (channels == 3) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
    } else {
        memcpy(dst, src, (size_t)channels);
    }
}

/* The horizontal pass over `rows` (<= SPAN / channels) source rows at once. Transposing them
 * (column x becomes the SPAN bytes columns[x]: rows side by side) turns the filter along a row
 * into filter_span down the columns, vectorized across the rows, instead of a short scalar
 * loop per output pixel. Inlined with a constant `channels` so the pixel copies are fixed-size. */
static inline void horizontal_block(const cr_resize_axis *a, const uint8_t *src, size_t stride,
                                    int rows, int channels, bool flip, uint8_t *columns,
                                    uint8_t *dst, size_t dst_stride) {
    const int in = a->in_size, out = a->out_size, taps = a->taps;
    /* row r, pixel x -> columns[x][r * channels]; a wide copy's extra byte lands on row r + 1's
     * slot, written next, or on the unused last lane; the last pixel of a row is copied exactly,
     * so nothing is read past the row */
    for (int r = 0; r < rows; r++) {
        const uint8_t *s = src + (size_t)r * stride;
        uint8_t *c = columns + (size_t)r * channels;
        for (int x = 0; x < in - 1; x++)
            copy_pixel_wide(c + (size_t)x * SPAN, s + (size_t)x * channels, channels);
        memcpy(c + (size_t)(in - 1) * SPAN, s + (size_t)(in - 1) * channels, (size_t)channels);
    }
    uint8_t sums[SPAN]; /* (rows, channels) of one output column */
    /* destination columns in increasing order, so a wide copy's extra byte lands on the next
     * pixel, written later; the last one is copied exactly */
    for (int n = 0; n < out; n++) {
        int i = flip ? out - 1 - n : n;
        filter_span(columns + (size_t)a->start[i] * SPAN, SPAN, a->coeffs + (size_t)i * taps,
                    a->count[i], sums, SPAN);
        uint8_t *d = dst + (size_t)n * channels;
        if (n + 1 < out)
            for (int r = 0; r < rows; r++)
                copy_pixel_wide(d + (size_t)r * dst_stride, sums + r * channels, channels);
        else
            for (int r = 0; r < rows; r++)
                memcpy(d + (size_t)r * dst_stride, sums + r * channels, (size_t)channels);
    }
}

cr_resize_rows cr_resize_horizontal(const cr_resize_plan *plan, const uint8_t *src, size_t stride,
                                    bool flip) {
    const cr_resize_axis *a = &plan->horizontal;
    src += (size_t)plan->first_row * stride;
    if (a->in_size == a->out_size && !flip) return (cr_resize_rows){src, stride};

    int channels = plan->channels, block = SPAN / channels;
    size_t out_stride = (size_t)a->out_size * (size_t)channels;
    /* the lanes past rows * channels are filtered too (SPAN is a constant) but never copied out;
     * cleared once, they hold zeros or an earlier block's rows, never undefined bytes */
    memset(plan->columns, 0, (size_t)a->in_size * SPAN);
    for (int r = 0; r < plan->last_row - plan->first_row; r += block) {
        int rows = plan->last_row - plan->first_row - r;
        if (rows > block) rows = block;
        const uint8_t *s = src + (size_t)r * stride;
        uint8_t *d = plan->between + (size_t)r * out_stride;
        switch (channels) {
        case 1: horizontal_block(a, s, stride, rows, 1, flip, plan->columns, d, out_stride); break;
        case 3: horizontal_block(a, s, stride, rows, 3, flip, plan->columns, d, out_stride); break;
        default:
            horizontal_block(a, s, stride, rows, channels, flip, plan->columns, d, out_stride);
            break;
        }
    }
    return (cr_resize_rows){plan->between, out_stride};
}

void cr_resize_vertical_row(const cr_resize_plan *plan, cr_resize_rows rows, int y, uint8_t *out) {
    const cr_resize_axis *a = &plan->vertical;
    int width = plan->horizontal.out_size * plan->channels;
    const uint8_t *src = rows.base + (size_t)(a->start[y] - plan->first_row) * rows.stride;
    if (a->in_size == a->out_size) { /* PIL's identity pass: weights (1, 0) */
        memcpy(out, src, (size_t)width);
        return;
    }
    const int32_t *k = a->coeffs + (size_t)y * a->taps;
    int j = 0;
    for (; j + SPAN <= width; j += SPAN)
        filter_span(src + j, rows.stride, k, a->count[y], out + j, SPAN);
    if (j < width) filter_span(src + j, rows.stride, k, a->count[y], out + j, width - j);
}

cr_status cr_resize_check(int in_width, int in_height, int out_width, int out_height) {
    if (in_width < 1 || in_height < 1 || out_width < 1 || out_height < 1)
        return cr_fail(CR_STATUS_INVALID, "resize from %dx%d to %dx%d: sizes must be positive",
                       in_width, in_height, out_width, out_height);
    if (in_width / out_width >= MAX_REDUCTION || in_height / out_height >= MAX_REDUCTION)
        return cr_fail(CR_STATUS_INVALID, "resize from %dx%d to %dx%d: a reduction of %d or more "
                       "is not supported", in_width, in_height, out_width, out_height,
                       MAX_REDUCTION);
    return CR_STATUS_OK;
}

size_t cr_resize_scratch_bytes(int src_width, int src_height, int dst_width, int dst_height,
                               int channels) {
    return CR_ARENA_ALIGN + cr_resize_plan_bytes(src_width, src_height, dst_width, dst_height,
                                                 channels);
}

cr_status cr_resize_u8(const uint8_t *src, int src_width, int src_height, size_t src_stride,
                       int channels, uint8_t *dst, int dst_width, int dst_height, void *scratch,
                       size_t scratch_bytes) {
    CR_TRY(cr_resize_check(src_width, src_height, dst_width, dst_height));
    if (channels < 1 || channels > 4 || src_stride < (size_t)src_width * (size_t)channels)
        return cr_fail(CR_STATUS_INVALID, "resize of %d channels with rows %zu bytes apart from "
                       "%d pixels wide: out of range", channels, src_stride, src_width);
    size_t need = cr_resize_scratch_bytes(src_width, src_height, dst_width, dst_height, channels);
    if (scratch_bytes < need)
        return cr_fail(CR_STATUS_INVALID, "resize from %dx%d to %dx%d needs %zu scratch bytes, "
                       "given %zu", src_width, src_height, dst_width, dst_height, need,
                       scratch_bytes);
    cr_resize_plan plan;
    void *memory = (void *)cr_align_up((uintptr_t)scratch, CR_ARENA_ALIGN);
    cr_resize_plan_init(&plan, src_width, src_height, dst_width, dst_height, channels, memory);
    cr_resize_rows rows = cr_resize_horizontal(&plan, src, src_stride, false);
    size_t dst_stride = (size_t)dst_width * (size_t)channels;
    for (int y = 0; y < dst_height; y++)
        cr_resize_vertical_row(&plan, rows, y, dst + (size_t)y * dst_stride);
    return CR_STATUS_OK;
}
