// The CUB primitives of cuda/device_primitives.cu with the standard library, for the emulated
// CUDA path (host memory). Same contracts: an exclusive scan and a stable sort by the low
// end_bit bits of the keys.
#include <algorithm>
#include <numeric>
#include <vector>

#include "../cuda/device_primitives.h"

namespace gs::cuda {

void exclusive_sum(const int64_t* in, int64_t* out, int n, const ScratchAllocator&) {
  std::exclusive_scan(in, in + n, out, int64_t{0});
}

void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int32_t* values_in, int32_t* values_out, int n,
                int end_bit, const ScratchAllocator&) {
  const uint64_t mask = end_bit >= 64 ? ~uint64_t{0} : (uint64_t{1} << end_bit) - 1;
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return (keys_in[a] & mask) < (keys_in[b] & mask); });
  for (int i = 0; i < n; ++i) {
    keys_out[i] = keys_in[order[i]];
    values_out[i] = values_in[order[i]];
  }
}

}  // namespace gs::cuda
