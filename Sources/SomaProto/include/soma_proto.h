/* Soma's helpers around protobuf-c: a budgeted allocator. Hand-written, not generated. */
#ifndef SOMA_PROTO_H
#define SOMA_PROTO_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

/* A ProtobufCAllocator that refuses to hand out more than `budget` bytes in total, so a
 * hostile file cannot make unpacking allocate without bound (protobuf-c expands tiny
 * repeated submessages into much larger structs). */
typedef struct {
    ProtobufCAllocator allocator;
    size_t used;
    size_t peak;
    size_t budget;
    int exceeded;
} SomaBudgetAllocator;

void soma_budget_allocator_init(SomaBudgetAllocator *a, size_t budget);

#endif
