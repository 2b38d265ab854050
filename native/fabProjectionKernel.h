// FAB's Linf projection, one row at a time (fabProjectionKernel.cc), for fabProjection.cc.
#pragma once

#include <cstdint>

namespace sauron {

/** One row's problem: t and w0 [dim], its offsets and row sums (libtorch's, from the caller). */
struct FabRow {
  const float* t;
  const float* w0;
  int64_t dim;
  float sign;  // +1 or -1: the side of the hyperplane t lies on
  float s1;    // <w0, t>
  float b0in;  // the hyperplane's offset
  float b0;    // <w, d> of the oriented row
  int64_t steps;  // ceil(log2(dim)), the reference's halvings
};

/** Buffers of dim entries each, reused across rows. */
struct FabScratch {
  float *w, *d, *p, *s, *sb;
  uint32_t *keys, *keys2;
  int32_t *idx, *idx2;
};

/** wd[j] = w[j] * d[j] of the oriented row: the terms of b0. */
void FabOrientedProducts(const float* w0, const float* t, float sign, int64_t n, float* wd);

/** The row's projection into out [dim]. */
void FabProjectRow(const FabRow& row, FabScratch& scratch, float* out);

}  // namespace sauron
