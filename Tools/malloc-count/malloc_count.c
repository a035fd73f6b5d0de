/* LD_PRELOAD shim counting heap allocations (malloc, calloc, realloc, posix_memalign,
 * aligned_alloc, memalign); prints the total to stderr at exit. Forwards to glibc's own
 * __libc_* entry points, so no dlsym (which itself allocates) is needed.
 *
 * With MALLOC_TRACE_AFTER=N set, allocations N+1 … N+MALLOC_TRACE_COUNT (default 50)
 * also print a backtrace to stderr — pipe it through `swift demangle` to see which code
 * allocates in a steady state. Used by Tools/count-allocations.sh. */
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long count;
static long trace_after = -1, trace_count = 50;
static _Thread_local int in_trace;

__attribute__((constructor)) static void setup(void) {
    const char *after = getenv("MALLOC_TRACE_AFTER"), *n = getenv("MALLOC_TRACE_COUNT");
    if (after) trace_after = atol(after);
    if (n) trace_count = atol(n);
    if (after) { void *warm[4]; backtrace(warm, 4); } /* loads the unwinder before counting */
}

static void counted(void) {
    long k = atomic_fetch_add(&count, 1);
    if (trace_after < 0 || k < trace_after || k >= trace_after + trace_count || in_trace) return;
    in_trace = 1;
    void *frames[24];
    int depth = backtrace(frames, 24);
    fprintf(stderr, "--- allocation %ld\n", k);
    backtrace_symbols_fd(frames, depth, 2);
    in_trace = 0;
}

void *malloc(size_t n) { counted(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { counted(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { counted(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    counted();
    *p = __libc_memalign(a, n);
    return *p ? 0 : ENOMEM;
}
__attribute__((destructor)) static void report(void) { fprintf(stderr, "allocations: %ld\n", (long)atomic_load(&count)); }
