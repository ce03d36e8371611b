// Torch binding: checks and allocates tensors, fills the plain parameter structs and runs
// the phases of rasterizer.h on the device of the inputs (CPU tensors: C++/OpenMP; CUDA
// tensors: the CUDA kernels, when the extension was built with them).
// Built with GS_CUDA_EMULATION (the module _C_emulated) it runs the CUDA kernels, compiled as
// C++ against cuda_emulation/, on CPU tensors instead.
// ATen and torch's pybind11 casters only: much quicker to compile than torch/extension.h.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/utils/pybind.h>

#include <optional>
#include <vector>

#include "rasterizer.h"
#include "workspace.h"

namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

bool present(const OptTensor& t) { return t.has_value() && t->defined(); }

const float* ptr_or_null(const OptTensor& t) { return present(t) ? t->data_ptr<float>() : nullptr; }

void check_input(const Tensor& t, const char* name, const at::Device& device) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, "diff_gaussian_rasterization: ", name, " must be float32, got ",
              t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), "diff_gaussian_rasterization: ", name, " must be contiguous");
  TORCH_CHECK(t.device() == device, "diff_gaussian_rasterization: ", name, " is on ", t.device(),
              " but means3D is on ", device);
}

void check_optional(const OptTensor& t, const char* name, const at::Device& device) {
  if (present(t)) check_input(*t, name, device);
}

// The camera and Gaussian inputs, shared by forward and backward.
struct Inputs {
  Tensor means3D, opacities, viewmatrix, projmatrix, campos, bg;
  OptTensor shs, colors_precomp, objects, scales, rotations, cov3D_precomp;
  gs::CameraParams cam;
  gs::GaussianParams gaussians;
};

Inputs make_inputs(const Tensor& bg, const Tensor& means3D, const OptTensor& colors_precomp,
                   const Tensor& opacities, const OptTensor& scales, const OptTensor& rotations,
                   double scale_modifier, const OptTensor& cov3D_precomp, const Tensor& viewmatrix,
                   const Tensor& projmatrix, double tan_fovx, double tan_fovy, int64_t image_height,
                   int64_t image_width, const OptTensor& shs, int64_t sh_degree, const Tensor& campos,
                   const OptTensor& objects) {
  const at::Device device = means3D.device();
  check_input(means3D, "means3D", device);
  check_input(opacities, "opacities", device);
  check_input(viewmatrix, "viewmatrix", device);
  check_input(projmatrix, "projmatrix", device);
  check_input(campos, "campos", device);
  check_input(bg, "bg", device);
  check_optional(shs, "shs", device);
  check_optional(colors_precomp, "colors_precomp", device);
  check_optional(objects, "sh_objs", device);
  check_optional(scales, "scales", device);
  check_optional(rotations, "rotations", device);
  check_optional(cov3D_precomp, "cov3D_precomp", device);
  TORCH_CHECK(image_height > 0 && image_width > 0, "diff_gaussian_rasterization: image size must be positive");

  Inputs in{means3D, opacities, viewmatrix, projmatrix, campos, bg, shs, colors_precomp, objects, scales,
            rotations, cov3D_precomp, {}, {}};
  gs::CameraParams& cam = in.cam;
  cam.viewmatrix = viewmatrix.data_ptr<float>();
  cam.projmatrix = projmatrix.data_ptr<float>();
  cam.campos = campos.data_ptr<float>();
  cam.width = static_cast<int>(image_width);
  cam.height = static_cast<int>(image_height);
  cam.tan_fovx = static_cast<float>(tan_fovx);
  cam.tan_fovy = static_cast<float>(tan_fovy);
  cam.focal_x = static_cast<float>(image_width / (2.0 * tan_fovx));
  cam.focal_y = static_cast<float>(image_height / (2.0 * tan_fovy));
  cam.scale_modifier = static_cast<float>(scale_modifier);
  cam.sh_degree = static_cast<int>(sh_degree);

  gs::GaussianParams& g = in.gaussians;
  g.count = static_cast<int>(means3D.size(0));
  g.means3D = means3D.data_ptr<float>();
  g.opacities = opacities.data_ptr<float>();
  g.shs = ptr_or_null(shs);
  g.sh_coeffs = present(shs) ? static_cast<int>(shs->size(1)) : 0;
  g.colors_precomp = ptr_or_null(colors_precomp);
  g.objects = ptr_or_null(objects);
  g.num_objects = present(objects) ? static_cast<int>(objects->size(1)) : 0;
  g.scales = ptr_or_null(scales);
  g.rotations = ptr_or_null(rotations);
  g.cov3D_precomp = ptr_or_null(cov3D_precomp);
  return in;
}

// The process's CPU workspaces (workspace.h): CPU scratch is kept between calls.
gs::WorkspacePool& cpu_workspaces() {
  static gs::WorkspacePool pool;
  return pool;
}

// Scratch memory of one call on `device`: from a kept CPU workspace for CPU tensors (the
// C++ path and the emulated kernels); byte tensors otherwise, which torch's CUDA caching
// allocator already reuses between calls.
class CallScratch {
 public:
  explicit CallScratch(at::Device device) : device_(device) {
    if (device.is_cpu()) workspace_ = cpu_workspaces().take();
  }
  gs::ScratchAllocator allocator() {
    return [this](size_t bytes) -> void* {
      if (workspace_) return workspace_->allocate(bytes);
      buffers_.push_back(at::empty({static_cast<int64_t>(bytes)}, at::TensorOptions().dtype(at::kByte).device(device_)));
      return buffers_.back().data_ptr();
    };
  }

 private:
  at::Device device_;
  gs::WorkspacePool::Lease workspace_{nullptr, {nullptr}};
  std::vector<Tensor> buffers_;
};

// The forward's saved state, in the order of rasterize_forward's result after the images.
enum State {
  kXy, kConicOpacity, kFeatures, kCov3D, kClamped, kRadii, kPixelBox, kAlphaReach, kTileRect, kPairOffsets,
  kBinGaussian, kBinSlot, kTileRange, kFinalT, kNContrib, kStateCount
};

gs::ProjectedGaussians projected_view(const std::vector<Tensor>& s) {
  return {s[kXy].data_ptr<float>(), s[kConicOpacity].data_ptr<float>(), s[kFeatures].data_ptr<float>(),
          s[kCov3D].data_ptr<float>(), s[kClamped].data_ptr<uint8_t>(), s[kRadii].data_ptr<int32_t>(),
          s[kPixelBox].data_ptr<int32_t>(), s[kAlphaReach].data_ptr<float>(), s[kTileRect].data_ptr<int32_t>(),
          s[kPairOffsets].data_ptr<int64_t>()};
}

gs::TileBins bins_view(const std::vector<Tensor>& s) {
  return {s[kBinGaussian].size(0), s[kBinGaussian].data_ptr<int32_t>(), s[kBinSlot].data_ptr<int32_t>(),
          s[kTileRange].data_ptr<int32_t>()};
}

#if defined(GS_WITH_CUDA) || defined(GS_CUDA_EMULATION)
#define GS_HAS_CUDA_KERNELS
#endif

// Runs the phases on the inputs' device: the CUDA kernels for CUDA tensors (or, emulated, for
// CPU tensors), the C++/OpenMP path otherwise. Each phase is a torch.profiler range
// (rasterizer/...), free when no profiler runs.
class Device {
 public:
  explicit Device(const Tensor& like) : cuda_(like.is_cuda()), threads_(at::get_num_threads()), scratch_(like.device()) {
#if defined(GS_CUDA_EMULATION)
    TORCH_CHECK(!cuda_, "diff_gaussian_rasterization._C_emulated runs the CUDA kernels on the CPU; pass CPU "
                        "tensors (use diff_gaussian_rasterization._C for CUDA tensors)");
    cuda_ = true;
#elif !defined(GS_WITH_CUDA)
    TORCH_CHECK(!cuda_, "diff_gaussian_rasterization was built without CUDA; pass CPU tensors or rebuild "
                        "it on a machine with a CUDA toolkit (FORCE_CUDA=1)");
#endif
  }
  // Whether the phases run the CUDA kernels (the layout of the saved state depends on it).
  bool is_cuda() const { return cuda_; }

  int64_t preprocess(const gs::CameraParams& cam, const gs::GaussianParams& in, const gs::ProjectedGaussians& p) {
    RECORD_FUNCTION("rasterizer/preprocess", std::vector<c10::IValue>());
#ifdef GS_HAS_CUDA_KERNELS
    if (cuda_) return gs::cuda::preprocess(cam, in, p, scratch_.allocator());
#endif
    return gs::cpu::preprocess(cam, in, p, threads_);
  }
  void bin(const gs::CameraParams& cam, int count, int channels, const gs::ProjectedGaussians& p,
           const gs::TileBins& bins) {
    RECORD_FUNCTION("rasterizer/bin", std::vector<c10::IValue>());
#ifdef GS_HAS_CUDA_KERNELS
    if (cuda_) return gs::cuda::bin(cam, count, channels, p, bins, scratch_.allocator());
#endif
    gs::cpu::bin(cam, count, channels, p, bins, scratch_.allocator(), threads_);
  }
  void render(const gs::CameraParams& cam, int num_objects, const gs::ProjectedGaussians& p,
              const gs::TileBins& bins, const float* bg, const gs::ImageBuffers& image) {
    RECORD_FUNCTION("rasterizer/blend", std::vector<c10::IValue>());
#ifdef GS_HAS_CUDA_KERNELS
    if (cuda_) return gs::cuda::render(cam, num_objects, p, bins, bg, image);
#endif
    gs::cpu::render(cam, num_objects, p, bins, bg, image, threads_);
  }
  void backward(const gs::CameraParams& cam, const gs::GaussianParams& in, const gs::ProjectedGaussians& p,
                const gs::TileBins& bins, const float* bg, const gs::ImageBuffers& image,
                const gs::ImageGradients& grad, const gs::GaussianGradients& out) {
    RECORD_FUNCTION("rasterizer/backward", std::vector<c10::IValue>());
#ifdef GS_HAS_CUDA_KERNELS
    if (cuda_) return gs::cuda::backward(cam, in, p, bins, bg, image, grad, out, scratch_.allocator());
#endif
    gs::cpu::backward(cam, in, p, bins, bg, image, grad, out, scratch_.allocator(), threads_);
  }

 private:
  bool cuda_;
  int threads_;
  CallScratch scratch_;
};

}  // namespace

// Returns [color (3,H,W), radii (N,), objects (D,H,W), depth (1,H,W), alpha (1,H,W), state...].
std::vector<Tensor> rasterize_forward(const Tensor& bg, const Tensor& means3D, const OptTensor& colors_precomp,
                                      const Tensor& opacities, const OptTensor& scales,
                                      const OptTensor& rotations, double scale_modifier,
                                      const OptTensor& cov3D_precomp, const Tensor& viewmatrix,
                                      const Tensor& projmatrix, double tan_fovx, double tan_fovy,
                                      int64_t image_height, int64_t image_width, const OptTensor& shs,
                                      int64_t sh_degree, const Tensor& campos, const OptTensor& objects) {
  Inputs in = make_inputs(bg, means3D, colors_precomp, opacities, scales, rotations, scale_modifier,
                          cov3D_precomp, viewmatrix, projmatrix, tan_fovx, tan_fovy, image_height,
                          image_width, shs, sh_degree, campos, objects);
  Device dev(means3D);
  const int64_t N = in.gaussians.count, H = image_height, W = image_width;
  const int64_t D = in.gaussians.num_objects, C = gs::blend_channels(static_cast<int>(D));
  const int64_t num_tiles = static_cast<int64_t>(in.cam.tiles_x()) * in.cam.tiles_y();
  const auto f32 = means3D.options().dtype(at::kFloat);
  const auto i32 = means3D.options().dtype(at::kInt);

  std::vector<Tensor> s(kStateCount);
  s[kXy] = at::empty({N, 2}, f32);
  s[kConicOpacity] = at::empty({N, 4}, f32);
  s[kFeatures] = at::empty({N, C}, f32);
  s[kCov3D] = at::empty({N, 6}, f32);
  s[kClamped] = at::empty({N}, means3D.options().dtype(at::kByte));
  s[kRadii] = at::empty({N}, i32);
  s[kPixelBox] = at::empty({N, 4}, i32);
  s[kAlphaReach] = at::empty({N}, f32);
  s[kTileRect] = at::empty({N, 4}, i32);
  s[kPairOffsets] = at::empty({N + 1}, means3D.options().dtype(at::kLong));
  const gs::ProjectedGaussians proj = projected_view(s);

  const int64_t pairs = dev.preprocess(in.cam, in.gaussians, proj);
  s[kBinGaussian] = at::empty({pairs}, i32);
  s[kBinSlot] = at::empty({dev.is_cuda() ? 0 : pairs}, i32);   // the CUDA backward uses atomics
  s[kTileRange] = at::empty({num_tiles, 2}, i32);
  s[kFinalT] = at::empty({H, W}, f32);
  s[kNContrib] = at::empty({H, W}, i32);
  gs::TileBins bins = bins_view(s);
  bins.num_pairs = pairs;
  dev.bin(in.cam, static_cast<int>(N), static_cast<int>(C), proj, bins);

  Tensor color = at::empty({3, H, W}, f32), depth = at::empty({1, H, W}, f32);
  Tensor objects_image = at::empty({D, H, W}, f32);
  const gs::ImageBuffers image = {color.data_ptr<float>(), depth.data_ptr<float>(), objects_image.data_ptr<float>(),
                                  s[kFinalT].data_ptr<float>(), s[kNContrib].data_ptr<int32_t>()};
  dev.render(in.cam, static_cast<int>(D), proj, bins, in.bg.data_ptr<float>(), image);

  Tensor alpha = (1.0f - s[kFinalT]).unsqueeze(0);
  std::vector<Tensor> result = {color, s[kRadii], objects_image, depth, alpha};
  result.insert(result.end(), s.begin(), s.end());
  return result;
}

// Returns the gradients [means3D, means2D, opacities (N,), shs, colors_precomp, objects (N,D),
// scales, rotations, cov3D_precomp]; undefined where the input was absent.
std::vector<Tensor> rasterize_backward(const Tensor& bg, const Tensor& means3D, const OptTensor& colors_precomp,
                                       const Tensor& opacities, const OptTensor& scales,
                                       const OptTensor& rotations, double scale_modifier,
                                       const OptTensor& cov3D_precomp, const Tensor& viewmatrix,
                                       const Tensor& projmatrix, double tan_fovx, double tan_fovy,
                                       int64_t image_height, int64_t image_width, const OptTensor& shs,
                                       int64_t sh_degree, const Tensor& campos, const OptTensor& objects,
                                       const std::vector<Tensor>& state, const Tensor& grad_color,
                                       const Tensor& grad_objects, const Tensor& grad_depth,
                                       const Tensor& grad_alpha) {
  Inputs in = make_inputs(bg, means3D, colors_precomp, opacities, scales, rotations, scale_modifier,
                          cov3D_precomp, viewmatrix, projmatrix, tan_fovx, tan_fovy, image_height,
                          image_width, shs, sh_degree, campos, objects);
  TORCH_CHECK(static_cast<int>(state.size()) == kStateCount, "diff_gaussian_rasterization: bad saved state");
  const at::Device device = means3D.device();
  check_input(grad_color, "grad of color", device);
  check_input(grad_objects, "grad of objects", device);
  check_input(grad_depth, "grad of depth", device);
  check_input(grad_alpha, "grad of alpha", device);
  Device dev(means3D);

  auto like = [](const OptTensor& t) { return present(t) ? at::empty_like(*t) : Tensor(); };
  const int64_t N = in.gaussians.count;
  Tensor dL_dmeans3D = at::empty({N, 3}, means3D.options()), dL_dmeans2D = at::empty({N, 3}, means3D.options());
  Tensor dL_dopacities = at::empty({N}, means3D.options());
  Tensor dL_dshs = like(shs), dL_dcolors = like(colors_precomp), dL_dobjects = like(objects);
  Tensor dL_dscales = present(cov3D_precomp) ? Tensor() : like(scales);
  Tensor dL_drotations = dL_dscales.defined() ? like(rotations) : Tensor();
  Tensor dL_dcov3D = like(cov3D_precomp);
  auto ptr = [](Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
  const gs::GaussianGradients out = {ptr(dL_dmeans3D), ptr(dL_dmeans2D), ptr(dL_dopacities), ptr(dL_dshs),
                                     ptr(dL_dcolors), ptr(dL_dobjects), ptr(dL_dscales), ptr(dL_drotations),
                                     ptr(dL_dcov3D)};
  const gs::ImageBuffers image = {nullptr, nullptr, nullptr, state[kFinalT].data_ptr<float>(),
                                  state[kNContrib].data_ptr<int32_t>()};
  const gs::ImageGradients grad = {grad_color.data_ptr<float>(), grad_depth.data_ptr<float>(),
                                   grad_objects.data_ptr<float>(), grad_alpha.data_ptr<float>()};
  dev.backward(in.cam, in.gaussians, projected_view(state), bins_view(state), in.bg.data_ptr<float>(), image,
               grad, out);
  return {dL_dmeans3D, dL_dmeans2D, dL_dopacities, dL_dshs, dL_dcolors, dL_dobjects, dL_dscales, dL_drotations,
          dL_dcov3D};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#if defined(GS_CUDA_EMULATION)
  m.doc() = "Differentiable Gaussian rasterizer: the CUDA kernels, emulated on the CPU, on CPU tensors";
  m.attr("emulated") = true;
#else
  m.doc() = "Differentiable Gaussian rasterizer: C++/OpenMP on CPU tensors, CUDA on CUDA tensors";
  m.attr("emulated") = false;
#endif
  m.def("rasterize_forward", &rasterize_forward, "Forward: images, radii and the state for backward");
  m.def("rasterize_backward", &rasterize_backward, "Backward: gradients of every input");
  m.def("cpu_workspace_bytes", []() { return static_cast<int64_t>(cpu_workspaces().bytes_held()); },
        "Bytes of CPU scratch the process keeps between calls");
  m.def("state_size", []() { return static_cast<int>(kStateCount); }, "Number of saved state tensors");
#ifdef GS_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
}
