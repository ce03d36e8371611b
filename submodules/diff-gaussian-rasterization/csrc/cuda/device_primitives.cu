#include <cub/cub.cuh>

#include "cuda_check.h"
#include "device_primitives.h"

namespace gs::cuda {

void exclusive_sum(const int64_t* in, int64_t* out, int n, const ScratchAllocator& scratch) {
  size_t temp_bytes = 0;
  GS_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, temp_bytes, in, out, n));
  void* temp = scratch(temp_bytes);
  GS_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp, temp_bytes, in, out, n));
}

void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int32_t* values_in, int32_t* values_out, int n,
                int end_bit, const ScratchAllocator& scratch) {
  size_t temp_bytes = 0;
  GS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, values_in, values_out, n,
                                                0, end_bit));
  void* temp = scratch(temp_bytes);
  GS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, values_in, values_out, n, 0,
                                                end_bit));
}

}  // namespace gs::cuda
