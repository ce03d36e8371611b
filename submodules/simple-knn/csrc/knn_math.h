// Math shared by the CPU (C++) and CUDA paths: the k-d tree's layout, the distance, the
// ranking of candidates and the whole per-query search. Both paths run this same code, so the
// CPU tests cover the search the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define KNN_HD __host__ __device__ __forceinline__
#else
#define KNN_HD inline
#endif

namespace simple_knn {

// A leaf holds at most this many points: smaller leaves mean a deeper tree, larger ones more
// distance evaluations per leaf (8, 16 and 32 timed within noise of each other at N = 1M).
constexpr int64_t kLeafSize = 16;
// The search keeps at most one pending node per tree level below the root, so this bounds the
// tree's depth (N up to 16 * 2^47 points); each GPU thread holds that many in local memory.
constexpr int kMaxDepth = 48;

// Summed in x, y, z order everywhere: a pruning bound and a point's distance then round the
// same way, so a bound never exceeds the distance it bounds (the search stays exact).
KNN_HD float squared_norm(float x, float y, float z) { return (x * x + y * y) + z * z; }

KNN_HD float squared_distance(const float* a, const float* b) {
  return squared_norm(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

// Implicit balanced tree: node n covers the tree-order points [lo, hi); an inner node splits
// them at split_point(lo, hi) into children 2n+1 = [lo, mid) and 2n+2 = [mid, hi).
KNN_HD bool is_leaf(int64_t lo, int64_t hi) { return hi - lo <= kLeafSize; }
KNN_HD int64_t split_point(int64_t lo, int64_t hi) { return lo + (hi - lo) / 2; }

// Points left of an inner node's split have coordinate <= split_value along split_dim, points
// right of it >= split_value (split_value is the coordinate of the point at mid).
struct KdTreeView {
  const float* points;       // (N, 3) in tree order
  const int64_t* index;      // (N,) the input row of each tree-order point
  const float* split_value;  // (num_nodes,)
  const uint8_t* split_dim;  // (num_nodes,) 0, 1 or 2
  int64_t num_points;
};

// Candidates rank by squared distance, then by lower index: ties are broken the same way on
// every run and device.
KNN_HD bool ranks_before(float dist2_a, int64_t index_a, float dist2_b, int64_t index_b) {
  return dist2_a < dist2_b || (dist2_a == dist2_b && index_a < index_b);
}

// Puts (dist2, index) into the ascending k-best lists if it ranks before their last entry.
KNN_HD void insert_candidate(float dist2, int64_t index, int k, float* best_dist2,
                             int64_t* best_index) {
  if (!ranks_before(dist2, index, best_dist2[k - 1], best_index[k - 1])) return;
  int slot = k - 1;
  while (slot > 0 && ranks_before(dist2, index, best_dist2[slot - 1], best_index[slot - 1])) {
    best_dist2[slot] = best_dist2[slot - 1];
    best_index[slot] = best_index[slot - 1];
    --slot;
  }
  best_dist2[slot] = dist2;
  best_index[slot] = index;
}

// A subtree still to search, with the per-axis offsets from the query to its region and the
// squared norm of those offsets (no point inside is nearer than that).
struct PendingNode {
  int64_t node, lo, hi;
  float offset[3];
  float bound;
};

// The exact k nearest tree points of q, leaving out the point whose input row is `skip`
// (-1: none). Writes best_dist2/best_index (k,) ascending; slots without a neighbour keep
// +inf / -1.
KNN_HD void query_kdtree(const KdTreeView& tree, const float* q, int64_t skip, int k,
                         float* best_dist2, int64_t* best_index) {
  for (int j = 0; j < k; ++j) {
    best_dist2[j] = INFINITY;
    best_index[j] = -1;
  }
  if (k == 0 || tree.num_points == 0) return;
  PendingNode stack[kMaxDepth];
  int pending = 0;
  stack[pending++] = PendingNode{0, 0, tree.num_points, {0.f, 0.f, 0.f}, 0.f};
  while (pending > 0) {
    PendingNode cur = stack[--pending];
    // Equal bound still searched: a point there may tie the k-th and have a lower index.
    if (cur.bound > best_dist2[k - 1]) continue;
    while (!is_leaf(cur.lo, cur.hi)) {
      const int dim = tree.split_dim[cur.node];
      const float diff = q[dim] - tree.split_value[cur.node];
      const int64_t mid = split_point(cur.lo, cur.hi);
      PendingNode left = cur, right = cur;
      left.node = 2 * cur.node + 1;
      left.hi = mid;
      right.node = 2 * cur.node + 2;
      right.lo = mid;
      PendingNode& near_side = diff < 0.f ? left : right;
      PendingNode& far_side = diff < 0.f ? right : left;
      far_side.offset[dim] = fabsf(diff);
      far_side.bound = squared_norm(far_side.offset[0], far_side.offset[1], far_side.offset[2]);
      if (far_side.bound <= best_dist2[k - 1]) stack[pending++] = far_side;
      cur = near_side;
    }
    for (int64_t j = cur.lo; j < cur.hi; ++j) {
      if (tree.index[j] == skip) continue;
      insert_candidate(squared_distance(q, tree.points + 3 * j), tree.index[j], k, best_dist2,
                       best_index);
    }
  }
}

// Query t of a batch, writing its row of out_dist2/out_index (num_queries, k). With
// `self_query` the queries are the tree's own points, taken in tree order so that nearby
// queries run together (kind to caches), and each leaves itself out.
KNN_HD void query_row(const KdTreeView& tree, const float* queries, int64_t t, bool self_query,
                      int k, float* out_dist2, int64_t* out_index) {
  const float* q = self_query ? tree.points + 3 * t : queries + 3 * t;
  const int64_t row = self_query ? tree.index[t] : t;
  query_kdtree(tree, q, self_query ? row : -1, k, out_dist2 + row * k, out_index + row * k);
}

}  // namespace simple_knn
