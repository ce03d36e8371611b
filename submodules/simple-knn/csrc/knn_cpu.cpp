#include "knn_cpu.h"

namespace simple_knn {

// Fewer queries than this run on the calling thread: waking a team costs more than it saves,
// by far on a machine whose cores are busy with other work.
constexpr int64_t kMinParallelQueries = 4096;

void knn_cpu(const KdTreeView& tree, const float* queries, int64_t num_queries, bool self_query,
             int k, int num_threads, float* out_dist2, int64_t* out_index) {
  // Dynamic chunks: queries in dense regions cost more than others.
#pragma omp parallel for schedule(dynamic, 256) num_threads(num_threads) \
    if (num_queries >= kMinParallelQueries)
  for (int64_t t = 0; t < num_queries; ++t) {
    query_row(tree, queries, t, self_query, k, out_dist2, out_index);
  }
}

}  // namespace simple_knn
