// CPU feature probing with the compiler's own CPUID/XGETBV wrapper: __builtin_cpu_supports
// answers "no" when the OS does not save the wider registers, so a "yes" is safe to use.
#include "soma_cpu_features.h"

#if defined(__x86_64__)
static int haswell(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi")
        && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("lzcnt")
        && __builtin_cpu_supports("movbe") && __builtin_cpu_supports("popcnt");
}
static int skylake_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
int soma_cpu_vector_level(void) {
    if (!haswell()) return 0;
    return skylake_avx512() ? 2 : 1;
}
#else
int soma_cpu_vector_level(void) { return 0; }
#endif
