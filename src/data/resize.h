/* resize.h — the two passes of the PIL-exact antialiased bilinear resize, for transform.c and the
 * public cr_resize_u8. Private to src/data.
 *
 * A plan holds the fixed-point coefficients of both axes and the buffer between the passes; it
 * lives in caller-given memory (cr_resize_plan_bytes). The horizontal pass runs over every source
 * row the vertical pass will read; the vertical pass then makes one output row at a time, so the
 * caller can turn each row into floats while it is still in cache. */
#ifndef CR_DATA_RESIZE_H
#define CR_DATA_RESIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crescendo/status.h"

/* PIL's fixed point for 8-bit images: weights are scaled by 2^22, leaving room for 255 * sum. */
enum { CR_RESIZE_BITS = 22 };

/* The filter along one axis: output i reads inputs start[i] .. start[i] + count[i] - 1. */
typedef struct cr_resize_axis {
    int in_size, out_size;
    int taps;        /* coefficients kept per output, >= every count */
    int32_t *start;  /* (out_size) */
    int32_t *count;  /* (out_size) */
    int32_t *coeffs; /* (out_size, taps) weights * 2^22, rounded as PIL rounds them */
} cr_resize_axis;

typedef struct cr_resize_plan {
    int channels;
    cr_resize_axis horizontal, vertical;
    int first_row, last_row; /* the source rows [first_row, last_row) the output depends on */
    uint8_t *columns;        /* (in width, 64): a block of source rows, transposed */
    uint8_t *between;        /* (last_row - first_row, out width, channels) after the first pass */
} cr_resize_plan;

/* Rows as the vertical pass reads them: row r of the source (r >= first_row) is at
 * base + (r - first_row) * stride. */
typedef struct cr_resize_rows {
    const uint8_t *base;
    size_t stride;
} cr_resize_rows;

/* Fails with CR_STATUS_INVALID on an empty size or a reduction of 2^16 or more on an axis: the
 * fixed-point sums stay far inside int32 below that (they could overflow near 2^23). */
cr_status cr_resize_check(int in_width, int in_height, int out_width, int out_height);

/* Memory a plan needs; never decreases when the input sizes grow, so a plan sized for the
 * largest source fits every smaller one. */
size_t cr_resize_plan_bytes(int in_width, int in_height, int out_width, int out_height,
                            int channels);
/* Computes the coefficients into memory (cr_resize_plan_bytes of it, 64-byte aligned). */
void cr_resize_plan_init(cr_resize_plan *plan, int in_width, int in_height, int out_width,
                         int out_height, int channels, void *memory);

/* The horizontal pass over src (in_height, in_width, channels), rows `stride` bytes apart,
 * mirrored when flip is set. Skipped (the source rows are returned) when the width is unchanged
 * and there is no flip, since PIL's pass is then exactly the identity. */
cr_resize_rows cr_resize_horizontal(const cr_resize_plan *plan, const uint8_t *src, size_t stride,
                                    bool flip);

/* Output row y (out width * channels bytes) of the vertical pass. */
void cr_resize_vertical_row(const cr_resize_plan *plan, cr_resize_rows rows, int y, uint8_t *out);

#endif
