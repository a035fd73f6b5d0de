/* LD_PRELOAD shim counting heap allocations (malloc, calloc, realloc, posix_memalign,
 * aligned_alloc, memalign); prints the total to stderr at exit. Forwards to glibc's own
 * __libc_* entry points, so no dlsym (which itself allocates) is needed.
 * Used by Tools/count-allocations.sh. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long count;

void *malloc(size_t n) { atomic_fetch_add(&count, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&count, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&count, 1); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&count, 1); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&count, 1); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    atomic_fetch_add(&count, 1);
    *p = __libc_memalign(a, n);
    return *p ? 0 : ENOMEM;
}
__attribute__((destructor)) static void report(void) { fprintf(stderr, "allocations: %ld\n", (long)atomic_load(&count)); }
