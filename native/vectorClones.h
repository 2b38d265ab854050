// Kernels compiled for vector units (poolKernel.cc, fabProjectionKernel.cc) are cloned for AVX2,
// SSE4.2 and baseline x86-64; the CPU picks its clone when the addon loads.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SAURON_VECTOR_CLONES __attribute__((target_clones("avx2", "sse4.2", "default")))
#else
#define SAURON_VECTOR_CLONES
#endif
