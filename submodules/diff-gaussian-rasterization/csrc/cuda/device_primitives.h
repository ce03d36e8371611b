// The two CUB primitives the CUDA path uses, wrapped in one translation unit
// (device_primitives.cu) so that only it pays for compiling CUB.
#pragma once

#include <stdint.h>

#include "../rasterizer.h"

namespace gs::cuda {

// out[i] = sum of in[0 .. i-1] for i < n (device arrays).
void exclusive_sum(const int64_t* in, int64_t* out, int n, const ScratchAllocator& scratch);

// Stable sort of (key, value) pairs by the low end_bit bits of the keys (device arrays).
void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int32_t* values_in, int32_t* values_out, int n,
                int end_bit, const ScratchAllocator& scratch);

}  // namespace gs::cuda
