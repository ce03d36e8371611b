// Torch binding of simple_knn._C: checks inputs, builds the k-d tree on the host and runs the
// search on the inputs' device. Built with KNN_CUDA_EMULATION (the module _C_emulated) the
// search on CPU tensors runs the CUDA kernel, compiled as C++ against the emulation layer.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kdtree.h"
#include "knn_cpu.h"

#ifdef WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#if defined(WITH_CUDA) || defined(KNN_CUDA_EMULATION)
#include "knn_cuda.h"
#endif

namespace simple_knn {
namespace {

// On the CPU a plain loop: torch's multi-threaded isfinite measured 40x slower (40 ms for
// 100k points) when other processes kept the cores busy.
bool all_finite(const torch::Tensor& points) {
  if (points.is_cuda()) return torch::isfinite(points).all().item<bool>();
  const auto values = points.contiguous();
  const float* data = values.data_ptr<float>();
  return std::all_of(data, data + values.numel(), [](float v) { return std::isfinite(v); });
}

void check_points(const torch::Tensor& points, const char* name) {
  TORCH_CHECK(points.dim() == 2 && points.size(1) == 3, "simple_knn: ", name,
              " must have shape (N, 3), got ", points.sizes());
  TORCH_CHECK(points.scalar_type() == torch::kFloat32, "simple_knn: ", name,
              " must be float32, got ", points.scalar_type());
  TORCH_CHECK(all_finite(points), "simple_knn: ", name, " has non-finite coordinates");
}

// A host vector as a tensor on `device` (a copy; the vector may then go).
template <typename T>
torch::Tensor to_device(const std::vector<T>& values, torch::ScalarType dtype,
                        const torch::Device& device) {
  auto host = torch::from_blob(const_cast<T*>(values.data()),
                               {static_cast<int64_t>(values.size())}, dtype);
  return host.to(device, /*non_blocking=*/false, /*copy=*/true);
}

void search_cpu(const KdTree& tree, const torch::Tensor& query, bool self_query, int k,
                torch::Tensor& dist2, torch::Tensor& index) {
#ifdef KNN_CUDA_EMULATION
  knn_cuda(tree.view(), query.data_ptr<float>(), query.size(0), self_query, k, dist2.data_ptr<float>(),
           index.data_ptr<int64_t>(), /*stream=*/nullptr);
#else
  knn_cpu(tree.view(), query.data_ptr<float>(), query.size(0), self_query, k,
          at::get_num_threads(), dist2.data_ptr<float>(), index.data_ptr<int64_t>());
#endif
}

#ifdef WITH_CUDA
void search_cuda(const KdTree& tree, const torch::Tensor& query, bool self_query, int k,
                 torch::Tensor& dist2, torch::Tensor& index) {
  const torch::Device device = query.device();
  const c10::cuda::CUDAGuard on_device(device);
  const auto points = to_device(tree.points, torch::kFloat32, device);
  const auto rows = to_device(tree.index, torch::kInt64, device);
  const auto split_value = to_device(tree.split_value, torch::kFloat32, device);
  const auto split_dim = to_device(tree.split_dim, torch::kUInt8, device);
  const KdTreeView view{points.data_ptr<float>(), rows.data_ptr<int64_t>(),
                        split_value.data_ptr<float>(), split_dim.data_ptr<uint8_t>(),
                        static_cast<int64_t>(tree.index.size())};
  knn_cuda(view, query.data_ptr<float>(), query.size(0), self_query, k,
           dist2.data_ptr<float>(), index.data_ptr<int64_t>(),
           c10::cuda::getCurrentCUDAStream(device.index()).stream());
}
#endif

bool with_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace

// The k nearest `points` (N, 3) of each `query` (M, 3): dist2 (M, k) ascending, index (M, k).
// With exclude_self, query must equal points and each point's own row is left out. Missing
// neighbours (k above N, or N - 1) are dist2 = +inf, index = -1. The tree is built on the host
// (points on CUDA are copied there for it); the search runs on the inputs' device.
std::tuple<torch::Tensor, torch::Tensor> knn(const torch::Tensor& query,
                                             const torch::Tensor& points, int64_t k,
                                             bool exclude_self) {
  check_points(query, "query");
  check_points(points, "points");
  TORCH_CHECK(query.device() == points.device(), "simple_knn: query is on ", query.device(),
              " but points are on ", points.device());
  TORCH_CHECK(k >= 0 && k <= std::numeric_limits<int>::max(), "simple_knn: k must be >= 0, got ",
              k);
  TORCH_CHECK(!points.is_cuda() || with_cuda(), "simple_knn: got CUDA tensors but this build "
              "has no CUDA; rebuild with a CUDA torch or FORCE_CUDA=1");
  TORCH_CHECK(!exclude_self || (query.sizes() == points.sizes() && torch::equal(query, points)),
              "simple_knn: exclude_self=True needs query to be the points themselves");
  const auto query_c = query.contiguous();
  const auto points_host = points.to(torch::kCPU).contiguous();
  const KdTree tree =
      build_kdtree(points_host.data_ptr<float>(), points_host.size(0), at::get_num_threads());
  auto dist2 = torch::empty({query.size(0), k}, query.options());
  auto index = torch::empty({query.size(0), k}, query.options().dtype(torch::kInt64));
#ifdef WITH_CUDA
  if (points.is_cuda()) {
    search_cuda(tree, query_c, exclude_self, static_cast<int>(k), dist2, index);
    return {dist2, index};
  }
#endif
  search_cpu(tree, query_c, exclude_self, static_cast<int>(k), dist2, index);
  return {dist2, index};
}

// 3DGS's distCUDA2: (N,) mean squared distance of each point to its 3 nearest other points.
// Fewer than 3 others (N < 4): the mean of those there are; none (N == 1): +inf.
torch::Tensor distCUDA2(const torch::Tensor& points) {
  const auto dist2 = std::get<0>(knn(points, points, 3, /*exclude_self=*/true));
  const auto found = torch::isfinite(dist2);
  const auto total = torch::where(found, dist2, torch::zeros_like(dist2)).sum(1);
  const auto count = found.sum(1);
  return torch::where(count > 0, total / count.clamp_min(1),
                      torch::full_like(total, std::numeric_limits<float>::infinity()));
}

}  // namespace simple_knn

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  namespace py = pybind11;
  m.def("knn", &simple_knn::knn, py::arg("query"), py::arg("points"), py::arg("k"),
        py::arg("exclude_self") = false, py::call_guard<py::gil_scoped_release>(),
        "k nearest points of each query: (dist2 (M, k) float32 ascending, index (M, k) int64)");
  m.def("distCUDA2", &simple_knn::distCUDA2, py::arg("points"),
        py::call_guard<py::gil_scoped_release>(),
        "(N,) mean squared distance of each point to its 3 nearest other points");
  m.def("with_cuda", &simple_knn::with_cuda, "whether this build has the CUDA path");
#ifdef KNN_CUDA_EMULATION
  m.attr("emulated") = true;   // CPU tensors run the CUDA kernel through the emulation layer
#else
  m.attr("emulated") = false;
#endif
}
