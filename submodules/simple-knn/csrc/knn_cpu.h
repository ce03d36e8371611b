#pragma once

#include <cstdint>

#include "knn_math.h"

namespace simple_knn {

// Fills out_dist2/out_index (num_queries, k) with each query's k nearest tree points
// (see query_row), queries spread over num_threads OpenMP threads.
void knn_cpu(const KdTreeView& tree, const float* queries, int64_t num_queries, bool self_query,
             int k, int num_threads, float* out_dist2, int64_t* out_index);

}  // namespace simple_knn
