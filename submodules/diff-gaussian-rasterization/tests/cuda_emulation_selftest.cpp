// Checks of the CUDA emulation layer's own semantics (csrc/cuda_emulation/cuda_emulation.h),
// each against a value computed by hand: the built-in indices, per-block shared memory and
// barriers, __syncthreads_count with exited threads, atomics across concurrent blocks, launch
// configuration errors, and that a missing barrier shows as a wrong result whichever thread of
// the pair runs first. Build: g++ -std=c++20 -fopenmp -I../csrc/cuda_emulation cuda_emulation_selftest.cpp.
// Prints one line per check; the exit status is the number of failed checks.
#include <cstdio>
#include <vector>

#include "cuda_emulation.h"

#define LAUNCH(kernel, grid, block) CUDA_EMULATION_LAUNCH(kernel, grid, block)

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  failures += !ok;
}

// Each thread writes its linear global index and its built-in indices.
__global__ void indices_kernel(int* out) {
  const unsigned int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned int per_block = blockDim.x * blockDim.y * blockDim.z;
  int* o = out + 6 * (b * per_block + t);
  o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
  o[3] = blockIdx.x; o[4] = blockIdx.y; o[5] = blockIdx.z;
}

// Reverses each block's slice through shared memory.
__global__ void reverse_kernel(const int* in, int* out) {
  __shared__ int slice[256];
  const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
  slice[t] = in[base + t];
  __syncthreads();
  out[base + t] = slice[blockDim.x - 1 - t];
}

// Threads t >= live return at once; the rest count how many of them have an even index.
__global__ void count_kernel(int live, int* out) {
  const int t = threadIdx.x;
  if (t >= live) return;
  const int even = __syncthreads_count(t % 2 == 0);
  const int all = __syncthreads_count(1);
  out[t] = even * 1000 + all;
}

__global__ void atomic_kernel(float* sum_f, int* sum_i) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(sum_f, 1.0f);
  atomicAdd(sum_i, i);
}

// Reads a neighbour's shared slot: with the barrier, its value; without, whatever was there.
template <bool kBarrier>
__global__ void neighbour_kernel(int offset, int* out) {
  __shared__ int slot[64];
  const int t = threadIdx.x;
  slot[t] = 0;
  __syncthreads();
  slot[t] = 1000 * blockIdx.x + t + 1;
  if (kBarrier) __syncthreads();
  out[64 * blockIdx.x + t] = slot[(t + offset + 64) % 64];
}

}  // namespace

int main() {
  {
    const dim3 grid(3, 2, 2), block(4, 3, 2);
    std::vector<int> out(6 * 12 * 24, -1);
    LAUNCH(indices_kernel, grid, block)(out.data());
    bool ok = cudaGetLastError() == cudaSuccess;
    for (int b = 0; b < 12; ++b)
      for (int t = 0; t < 24; ++t) {
        const int* o = &out[6 * (b * 24 + t)];
        ok &= o[0] == t % 4 && o[1] == (t / 4) % 3 && o[2] == t / 12;
        ok &= o[3] == b % 3 && o[4] == (b / 3) % 2 && o[5] == b / 6;
      }
    check(ok, "threadIdx / blockIdx / blockDim / gridDim of a 3D grid of 3D blocks");
  }
  {
    const int blocks = 37, threads = 256;
    std::vector<int> in(blocks * threads), out(blocks * threads, -1);
    for (int i = 0; i < blocks * threads; ++i) in[i] = 7 * i + 3;
    LAUNCH(reverse_kernel, blocks, threads)(in.data(), out.data());
    bool ok = true;
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < threads; ++t) ok &= out[b * threads + t] == in[b * threads + threads - 1 - t];
    check(ok, "__shared__ is per block and __syncthreads orders its writes before its reads (37 blocks)");
  }
  {
    std::vector<int> out(128, -1);
    LAUNCH(count_kernel, 1, 128)(77, out.data());
    bool ok = true;
    for (int t = 0; t < 128; ++t) ok &= out[t] == (t < 77 ? 39 * 1000 + 77 : -1);
    check(ok, "__syncthreads_count counts the live threads only (77 of 128 stay, 39 even)");
  }
  {
    float sum_f = 0.f;
    int sum_i = 0;
    const int blocks = 64, threads = 256, n = blocks * threads;
    LAUNCH(atomic_kernel, blocks, threads)(&sum_f, &sum_i);
    check(sum_f == static_cast<float>(n) && sum_i == n * (n - 1) / 2, "atomicAdd from 64 concurrent blocks");
  }
  {
    int dummy = 0;
    float f = 0.f;
    LAUNCH(atomic_kernel, 0, 256)(&f, &dummy);
    const bool zero_grid = cudaGetLastError() == cudaErrorInvalidConfiguration && cudaGetLastError() == cudaSuccess;
    LAUNCH(atomic_kernel, 1, 1025)(&f, &dummy);
    const bool big_block = cudaGetLastError() == cudaErrorInvalidConfiguration;
    LAUNCH(atomic_kernel, dim3(1, 65536), 1)(&f, &dummy);
    const bool big_grid = cudaGetLastError() == cudaErrorInvalidConfiguration;
    check(zero_grid && big_block && big_grid && f == 0.f && dummy == 0,
          "invalid launch configurations run nothing and report cudaErrorInvalidConfiguration once");
  }
  for (int offset : {+1, -1}) {
    // Two blocks: the stretch between the barriers runs in both thread orders.
    std::vector<int> with(128), without(128);
    LAUNCH(neighbour_kernel<true>, 2, 64)(offset, with.data());
    LAUNCH(neighbour_kernel<false>, 2, 64)(offset, without.data());
    bool right = true, wrong = false;
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t < 64; ++t) {
        const int expected = 1000 * b + (t + offset + 64) % 64 + 1;
        right &= with[64 * b + t] == expected;
        wrong |= without[64 * b + t] != expected;
      }
    check(right && wrong, offset > 0 ? "a missing barrier shows (each thread reads its next neighbour's slot)"
                                     : "a missing barrier shows (each thread reads its previous neighbour's slot)");
  }
  return failures;
}
