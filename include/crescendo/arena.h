/* crescendo/arena.h — one aligned block handed out front to back.
 * Parameters, gradients, optimizer state and activations each live in one arena, so that whole-set
 * operations (zeroing, the optimizer, checkpointing, all-reduce) are flat loops over one range. */
#ifndef CRESCENDO_ARENA_H
#define CRESCENDO_ARENA_H

#include <stddef.h>

#include "crescendo/status.h"

enum { CR_ARENA_ALIGN = 64 }; /* a cache line and an AVX-512 register */

typedef struct cr_arena {
    char *base;      /* (capacity) bytes, CR_ARENA_ALIGN-aligned, zero-filled at creation */
    size_t capacity;
    size_t used;
} cr_arena;

static inline size_t cr_align_up(size_t n, size_t align) { return (n + align - 1) / align * align; }

/* Allocates capacity bytes, zero-filled. An arena of capacity 0 is valid and empty. */
cr_status cr_arena_init(cr_arena *arena, size_t capacity);
void cr_arena_release(cr_arena *arena);
/* The next `bytes` (rounded up to CR_ARENA_ALIGN), or NULL when the arena is full. */
void *cr_arena_alloc(cr_arena *arena, size_t bytes);
/* Forgets every allocation; the memory stays reserved. */
void cr_arena_reset(cr_arena *arena);

#endif
