// Host-side k-d tree construction (plain C++, no torch): both paths search a tree built here.
#pragma once

#include <cstdint>
#include <vector>

#include "knn_math.h"

namespace simple_knn {

// Owns the arrays a KdTreeView points into.
struct KdTree {
  std::vector<float> points;       // (N, 3) in tree order
  std::vector<int64_t> index;      // (N,) input row of each tree-order point
  std::vector<float> split_value;  // (num_nodes,)
  std::vector<uint8_t> split_dim;  // (num_nodes,)

  KdTreeView view() const {
    return KdTreeView{points.data(), index.data(), split_value.data(), split_dim.data(),
                      static_cast<int64_t>(index.size())};
  }
};

// Builds the balanced tree of points (N, 3), row-major. Each inner node splits its points
// at their median along the widest axis of their bounding box. Deterministic: equal
// coordinates are ordered by input row, and parallel subtrees touch disjoint ranges.
// Throws std::length_error if the tree would be deeper than kMaxDepth.
KdTree build_kdtree(const float* points, int64_t num_points, int num_threads);

}  // namespace simple_knn
