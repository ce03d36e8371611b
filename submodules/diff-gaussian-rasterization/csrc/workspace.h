// Scratch memory for CPU calls that is kept between calls: a per-process pool of grow-only
// workspaces. A call takes a workspace, asks it for its buffers in order (the n-th request
// gets the n-th block, enlarged when too small) and gives it back. Successive iterations make
// the same requests, so after the first they touch memory that is already mapped: no fresh
// pages to fault in (the "page-fault storm" of per-iteration mmap / munmap), however the
// process's allocator is configured. Concurrent calls (a viewer thread beside training) take
// different workspaces. Plain C++: no torch.
#pragma once

#include <stddef.h>
#include <stdlib.h>

#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace gs {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    for (Block& b : blocks_) free(b.data);
  }

  // The next block of at least `bytes`, 64-byte aligned, valid until rewind().
  void* allocate(size_t bytes) {
    if (next_ == blocks_.size()) blocks_.push_back({nullptr, 0});
    Block& b = blocks_[next_++];
    if (b.size < bytes) {
      // A quarter of headroom: the request varies a little from view to view.
      const size_t size = round_up(bytes + bytes / 4);
      void* data = aligned_alloc(kAlignment, size);
      if (!data) throw std::bad_alloc();
      free(b.data);
      b = {data, size};
    }
    return b.data;
  }
  void rewind() { next_ = 0; }
  size_t bytes_held() const {
    size_t total = 0;
    for (const Block& b : blocks_) total += b.size;
    return total;
  }

 private:
  static constexpr size_t kAlignment = 64;
  static size_t round_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }
  struct Block {
    void* data;
    size_t size;
  };
  std::vector<Block> blocks_;
  size_t next_ = 0;
};

class WorkspacePool {
 public:
  struct Release {
    WorkspacePool* pool;
    void operator()(Workspace* w) const { pool->give_back(w); }
  };
  using Lease = std::unique_ptr<Workspace, Release>;

  // A rewound workspace, returned to the pool when the lease ends.
  Lease take() {
    std::lock_guard<std::mutex> lock(mutex_);
    Workspace* w;
    if (free_.empty()) {
      all_.push_back(std::make_unique<Workspace>());
      w = all_.back().get();
    } else {
      w = free_.back();
      free_.pop_back();
    }
    w->rewind();
    return Lease(w, Release{this});
  }
  // Bytes held by every workspace of the pool (what the process keeps between calls).
  size_t bytes_held() {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t total = 0;
    for (const auto& w : all_) total += w->bytes_held();
    return total;
  }

 private:
  void give_back(Workspace* w) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(w);
  }
  std::mutex mutex_;
  std::vector<std::unique_ptr<Workspace>> all_;
  std::vector<Workspace*> free_;
};

}  // namespace gs
