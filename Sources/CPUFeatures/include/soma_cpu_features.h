// Which vector instruction sets this CPU and its operating system support, for choosing
// between the builds of Soma's vector kernels (SomaSIMD) at run time.
#ifndef SOMA_CPU_FEATURES_H
#define SOMA_CPU_FEATURES_H

// 0: baseline only (SSE2 on x86-64, or any other architecture);
// 1: what `-target-cpu haswell` emits (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE, POPCNT);
// 2: besides, what `-target-cpu skylake-avx512` emits (AVX-512 F, CD, BW, DQ, VL).
int soma_cpu_vector_level(void);

// A spin-wait hint for a loop polling memory another thread writes: x86's `pause`, ARM's
// `yield`; nothing elsewhere. It frees the core's issue slots for a sibling thread and
// avoids the memory-order flush on the loop's exit.
static inline void soma_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#endif
