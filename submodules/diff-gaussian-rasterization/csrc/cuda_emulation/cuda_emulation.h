// A small CPU emulation of the CUDA runtime subset our kernels use, so that the `.cu` sources
// compile as plain C++ (g++) and run on CPU memory. A CPU-only CI then executes the kernels'
// own indexing, shared-memory batching, barriers, early termination and atomics.
//
// Model (what CUDA guarantees, no more):
// - a launch runs every block of the grid; blocks run in parallel on OpenMP threads, in any order;
// - the threads of a block run as fibers (ucontext) on one OS thread. Each runs until it reaches
//   a barrier (__syncthreads / __syncthreads_count) or returns; when every live thread of the
//   block waits at the barrier it completes and they all continue. A returned thread no longer
//   takes part in barriers (CUDA's behaviour for exited threads). Between two barriers the
//   threads run one after the other, in ascending or descending order, alternating from one
//   barrier to the next and between neighbouring blocks, so that each stretch of a kernel runs
//   in both orders in a launch of two or more blocks: a missing barrier then shows as a wrong
//   result whichever thread of a pair writes first;
// - `__shared__` variables are `static thread_local`: one copy per OS thread, which runs one
//   block at a time, so one copy per running block (uninitialised from the kernel's view);
// - threadIdx, blockIdx, blockDim and gridDim are thread_local, set by the scheduler before it
//   resumes a fiber;
// - atomicAdd is std::atomic_ref::fetch_add (blocks of one launch do run concurrently);
// - launches are synchronous; invalid launch configurations are reported by cudaGetLastError
//   as CUDA reports them.
// Kernels launch through a macro that is `kernel<<<grid, block>>>` under nvcc and
// CUDA_EMULATION_LAUNCH(kernel, grid, block) here; see the users' cuda_check.h / knn_cuda.cu.
// Needs C++20 (std::atomic_ref) and, for parallel blocks, OpenMP.
#pragma once

#if defined(__CUDACC__)
#error "cuda_emulation.h is for host compilers; under nvcc include <cuda_runtime.h>"
#endif

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local

// ----------------------------------------------------------------------------- built-in types
struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// ----------------------------------------------------------------------------- runtime API
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
using cudaStream_t = struct CUstream_st*;

namespace cuda_emulation::detail {
inline thread_local cudaError_t last_error = cudaSuccess;
}  // namespace cuda_emulation::detail

inline const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unrecognized error code";
}

// Returns the last launch error of this thread and resets it, as CUDA does.
inline cudaError_t cudaGetLastError() {
  const cudaError_t error = cuda_emulation::detail::last_error;
  cuda_emulation::detail::last_error = cudaSuccess;
  return error;
}

inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }   // launches are synchronous

// "Device" memory is host memory.
inline cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (bytes > 0 && ptr == nullptr) return cudaErrorInvalidValue;
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return cudaErrorInvalidValue;
  if (bytes > 0 && (dst == nullptr || src == nullptr)) return cudaErrorInvalidValue;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

// ----------------------------------------------------------------------------- device functions
// CUDA's global min / max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return a < b ? a : b; }
inline float max(float a, float b) { return a > b ? a : b; }

// atomicAdd: returns the old value.
template <class T>
inline T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value, std::memory_order_relaxed);
}

namespace cuda_emulation {
namespace detail {

constexpr unsigned int kMaxThreadsPerBlock = 1024;   // CUDA's limits (compute capability >= 2.0)
constexpr unsigned int kMaxBlockZ = 64;
constexpr unsigned int kMaxGridYZ = 65535;
constexpr size_t kFiberStackBytes = 64 * 1024;

// Stacks for up to n fibers, each with an inaccessible guard page below it, so that a fiber
// overflowing its stack faults instead of overwriting its neighbour's.
class FiberStacks {
 public:
  FiberStacks() = default;
  FiberStacks(const FiberStacks&) = delete;
  FiberStacks& operator=(const FiberStacks&) = delete;
  ~FiberStacks() { release(); }

  void reserve(unsigned int n) {
    if (n <= count_) return;
    release();
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t slot = page_ + kFiberStackBytes;
    void* memory = mmap(nullptr, slot * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(memory);
    bytes_ = slot * n;
    count_ = n;
    for (unsigned int i = 0; i < n; ++i)
      if (mprotect(base_ + i * slot, page_, PROT_NONE) != 0) throw std::runtime_error("cuda_emulation: mprotect failed");
  }
  char* stack(unsigned int i) const { return base_ + i * (page_ + kFiberStackBytes) + page_; }

 private:
  void release() {
    if (base_ != nullptr) munmap(base_, bytes_);
    base_ = nullptr;
    bytes_ = 0;
    count_ = 0;
  }
  char* base_ = nullptr;
  size_t bytes_ = 0, page_ = 0;
  unsigned int count_ = 0;
};

// Runs the threads of one block as fibers on the calling OS thread (one per OS thread).
class BlockRunner {
 public:
  // Runs body() once per thread of a block of shape `block` (blockIdx, blockDim and gridDim
  // already set on this OS thread); descending_first: the order of the first stretch.
  void run(dim3 block, bool descending_first, void (*invoke)(const void*), const void* body);
  // A thread's barrier: returns how many live threads of the block passed a non-zero predicate.
  int barrier(int predicate);

 private:
  static void fiber_main();
  void set_thread_index(unsigned int t) const;

  FiberStacks stacks_;
  ucontext_t scheduler_;
  std::vector<ucontext_t> fibers_;
  std::vector<char> finished_;
  dim3 shape_;
  unsigned int current_ = 0;
  int pending_count_ = 0, barrier_count_ = 0;
  void (*invoke_)(const void*) = nullptr;
  const void* body_ = nullptr;
};

inline thread_local BlockRunner* running_block = nullptr;

inline void BlockRunner::set_thread_index(unsigned int t) const {
  threadIdx = {t % shape_.x, (t / shape_.x) % shape_.y, t / (shape_.x * shape_.y)};
}

inline void BlockRunner::fiber_main() {
  BlockRunner& self = *running_block;
  self.invoke_(self.body_);
  self.finished_[self.current_] = 1;
  // Returning resumes uc_link, the scheduler.
}

inline void BlockRunner::run(dim3 block, bool descending_first, void (*invoke)(const void*), const void* body) {
  const unsigned int n = block.x * block.y * block.z;
  shape_ = block;
  invoke_ = invoke;
  body_ = body;
  stacks_.reserve(n);
  fibers_.resize(n);
  finished_.assign(n, 0);
  for (unsigned int t = 0; t < n; ++t) {
    ucontext_t& fiber = fibers_[t];
    if (getcontext(&fiber) != 0) throw std::runtime_error("cuda_emulation: getcontext failed");
    fiber.uc_stack.ss_sp = stacks_.stack(t);
    fiber.uc_stack.ss_size = kFiberStackBytes;
    fiber.uc_link = &scheduler_;
    makecontext(&fiber, &BlockRunner::fiber_main, 0);
  }
  BlockRunner* outer = running_block;
  running_block = this;
  pending_count_ = 0;
  for (bool descending = descending_first;; descending = !descending) {
    unsigned int waiting = 0;
    for (unsigned int i = 0; i < n; ++i) {
      const unsigned int t = descending ? n - 1 - i : i;
      if (finished_[t]) continue;
      current_ = t;
      set_thread_index(t);
      swapcontext(&scheduler_, &fibers_[t]);
      waiting += !finished_[t];
    }
    if (waiting == 0) break;
    // Every live thread is at the barrier: it completes.
    barrier_count_ = pending_count_;
    pending_count_ = 0;
  }
  running_block = outer;
}

inline int BlockRunner::barrier(int predicate) {
  pending_count_ += predicate != 0;
  swapcontext(&fibers_[current_], &scheduler_);
  return barrier_count_;
}

inline BlockRunner& this_thread_runner() {
  static thread_local BlockRunner runner;
  return runner;
}

inline BlockRunner& running() {
  if (running_block == nullptr) throw std::logic_error("cuda_emulation: a barrier outside a kernel launch");
  return *running_block;
}

inline bool valid_launch(dim3 grid, dim3 block) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  return grid.x > 0 && grid.y > 0 && grid.z > 0 && grid.y <= kMaxGridYZ && grid.z <= kMaxGridYZ && block.x > 0 &&
         block.y > 0 && block.z > 0 && block.z <= kMaxBlockZ && threads <= kMaxThreadsPerBlock;
}

}  // namespace detail

// One kernel launch: `Launch(kernel_caller, grid, block)(args...)` runs kernel_caller(args...)
// on every thread of the grid; the kernels take their parameters by value, so each thread
// works on its own copies, as on the device. The stream is accepted and ignored (synchronous).
template <class Kernel>
class Launch {
 public:
  Launch(Kernel kernel, dim3 grid, dim3 block, cudaStream_t = nullptr) : grid_(grid), block_(block), kernel_(kernel) {}

  template <class... Args>
  void operator()(const Args&... args) const {
    if (!detail::valid_launch(grid_, block_)) {
      detail::last_error = cudaErrorInvalidConfiguration;
      return;
    }
    const auto body = [&]() { kernel_(args...); };
    using Body = decltype(body);
    void (*invoke)(const void*) = [](const void* b) { (*static_cast<const Body*>(b))(); };
    const long long blocks = 1ll * grid_.x * grid_.y * grid_.z;
    const dim3 grid = grid_, block = block_;
#pragma omp parallel for schedule(dynamic, 1) if (blocks > 1)
    for (long long b = 0; b < blocks; ++b) {
      gridDim = grid;
      blockDim = block;
      blockIdx = {static_cast<unsigned int>(b % grid.x), static_cast<unsigned int>((b / grid.x) % grid.y),
                  static_cast<unsigned int>(b / (1ll * grid.x * grid.y))};
      detail::this_thread_runner().run(block, b % 2 == 1, invoke, &body);
    }
  }

 private:
  dim3 grid_, block_;
  Kernel kernel_;
};

}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::detail::running().barrier(0); }
inline int __syncthreads_count(int predicate) { return cuda_emulation::detail::running().barrier(predicate); }

// `CUDA_EMULATION_LAUNCH(kernel, grid, block[, stream])(args...)`: the emulated
// `kernel<<<grid, block[, 0, stream]>>>(args...)`. A generic lambda so that kernel templates
// deduce their arguments as they do at a real launch.
#define CUDA_EMULATION_LAUNCH(kernel, ...) \
  ::cuda_emulation::Launch([](const auto&... kernel_args) { kernel(kernel_args...); }, __VA_ARGS__)
