/* Hand-written, not generated: see include/soma_proto.h. */
#include "soma_proto.h"
#include <stdlib.h>

/* Each block carries its size in a 16-byte header, keeping malloc's alignment. */
#define HEADER 16

static void *budget_alloc(void *data, size_t size) {
    SomaBudgetAllocator *a = data;
    if (size > a->budget || a->used > a->budget - size) {
        a->exceeded = 1;
        return NULL;
    }
    unsigned char *block = malloc(size + HEADER);
    if (block == NULL) return NULL;
    *(size_t *)block = size;
    a->used += size;
    if (a->used > a->peak) a->peak = a->used;
    return block + HEADER;
}

static void budget_free(void *data, void *pointer) {
    SomaBudgetAllocator *a = data;
    if (pointer == NULL) return;
    unsigned char *block = (unsigned char *)pointer - HEADER;
    a->used -= *(size_t *)block;
    free(block);
}

void soma_budget_allocator_init(SomaBudgetAllocator *a, size_t budget) {
    a->allocator.alloc = budget_alloc;
    a->allocator.free = budget_free;
    a->allocator.allocator_data = a;
    a->used = 0;
    a->peak = 0;
    a->budget = budget;
    a->exceeded = 0;
}
