/* The bump arena behind parameters, gradients, optimizer state and activations.
 * Memory is touched once at creation so later steps take no page faults. */
#include "crescendo/arena.h"

#include <stdlib.h>
#include <string.h>

cr_status cr_arena_init(cr_arena *arena, size_t capacity) {
    arena->capacity = cr_align_up(capacity, CR_ARENA_ALIGN);
    arena->used = 0;
    arena->base = NULL;
    if (arena->capacity == 0) return CR_STATUS_OK;
    arena->base = aligned_alloc(CR_ARENA_ALIGN, arena->capacity);
    if (!arena->base)
        return cr_fail(CR_STATUS_NOMEM, "cannot allocate an arena of %zu bytes", arena->capacity);
    memset(arena->base, 0, arena->capacity);
    return CR_STATUS_OK;
}

void cr_arena_release(cr_arena *arena) {
    free(arena->base);
    arena->base = NULL;
    arena->capacity = arena->used = 0;
}

void *cr_arena_alloc(cr_arena *arena, size_t bytes) {
    size_t size = cr_align_up(bytes, CR_ARENA_ALIGN);
    if (size > arena->capacity - arena->used) return NULL;
    void *p = arena->base + arena->used;
    arena->used += size;
    return p;
}

void cr_arena_reset(cr_arena *arena) { arena->used = 0; }
