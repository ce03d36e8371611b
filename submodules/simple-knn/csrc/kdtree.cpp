#include "kdtree.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace simple_knn {
namespace {

struct TreePoint {
  float xyz[3];
  int64_t index;
};

// Subtrees with fewer points than this are built by the task that reached them, and trees
// under twice this are built on one thread. Training's 3D loss builds a tree of every
// Gaussian each time (43k points, 1000 queries: 5.7 ms on one thread, 3.35 ms on two,
// scripts/bench_training.py's case); it runs while training's other work waits, so the second
// core is free. (Earlier, 1 << 17: a stolen subtree waits for its core when another process
// keeps the cores busy, and then two threads can be slower than one.)
constexpr int64_t kMinParallelPoints = 1 << 13;

// Levels below the root: how many halvings of the larger half reach leaf size.
int tree_depth(int64_t num_points) {
  int depth = 0;
  for (int64_t size = num_points; !is_leaf(0, size); size -= size / 2) ++depth;
  return depth;
}

int widest_axis(const TreePoint* begin, const TreePoint* end) {
  float lo[3] = {begin->xyz[0], begin->xyz[1], begin->xyz[2]};
  float hi[3] = {lo[0], lo[1], lo[2]};
  for (const TreePoint* p = begin; p != end; ++p) {
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p->xyz[a]);
      hi[a] = std::max(hi[a], p->xyz[a]);
    }
  }
  int widest = 0;
  for (int a = 1; a < 3; ++a) {
    if (hi[a] - lo[a] > hi[widest] - lo[widest]) widest = a;
  }
  return widest;
}

void build_node(std::vector<TreePoint>& order, KdTree& tree, int64_t node, int64_t lo,
                int64_t hi) {
  if (is_leaf(lo, hi)) return;
  TreePoint* first = order.data() + lo;
  const int dim = widest_axis(first, order.data() + hi);
  const int64_t mid = split_point(lo, hi);
  std::nth_element(first, order.data() + mid, order.data() + hi,
                   [dim](const TreePoint& a, const TreePoint& b) {
                     return a.xyz[dim] < b.xyz[dim] ||
                            (a.xyz[dim] == b.xyz[dim] && a.index < b.index);
                   });
  tree.split_dim[node] = static_cast<uint8_t>(dim);
  tree.split_value[node] = order[mid].xyz[dim];
#pragma omp task default(shared) if (hi - lo >= kMinParallelPoints)
  build_node(order, tree, 2 * node + 1, lo, mid);
  build_node(order, tree, 2 * node + 2, mid, hi);
#pragma omp taskwait
}

}  // namespace

KdTree build_kdtree(const float* points, int64_t num_points, int num_threads) {
  const int depth = tree_depth(num_points);
  if (depth >= kMaxDepth) {
    throw std::length_error("simple_knn: " + std::to_string(num_points) +
                            " points exceed the k-d tree's maximum depth");
  }
  std::vector<TreePoint> order(num_points);
  for (int64_t i = 0; i < num_points; ++i) {
    order[i] = TreePoint{{points[3 * i], points[3 * i + 1], points[3 * i + 2]}, i};
  }
  KdTree tree;
  // Node ids of an implicit tree of this depth stay below 2^(depth+1) - 1.
  const int64_t num_nodes = (int64_t{2} << depth) - 1;
  tree.split_value.assign(num_nodes, 0.f);
  tree.split_dim.assign(num_nodes, 0);
#pragma omp parallel num_threads(num_threads) if (num_points >= 2 * kMinParallelPoints)
#pragma omp single
  build_node(order, tree, 0, 0, num_points);
  tree.points.resize(3 * num_points);
  tree.index.resize(num_points);
  for (int64_t i = 0; i < num_points; ++i) {
    std::copy(order[i].xyz, order[i].xyz + 3, tree.points.data() + 3 * i);
    tree.index[i] = order[i].index;
  }
  return tree;
}

}  // namespace simple_knn
