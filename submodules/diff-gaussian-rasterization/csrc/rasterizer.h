// The rasterizer's phases, with the same shape on both devices: preprocess (per Gaussian),
// bin (per-tile front-to-back pair lists), render (per tile), backward. Plain C++: the
// torch binding allocates every array and passes pointers.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <functional>

#include "rasterizer_types.h"

namespace gs {

// Temporary memory on the device of the call, alive until the call returns.
using ScratchAllocator = std::function<void*(size_t bytes)>;

namespace cpu {

// Projects every Gaussian and fills proj.pair_offsets; returns the number of pairs.
int64_t preprocess(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
                   int num_threads);

// Fills bins (gaussian, slot, tile_range) from the projected Gaussians.
void bin(const CameraParams& cam, int count, int channels, const ProjectedGaussians& proj,
         const TileBins& bins, const ScratchAllocator& scratch, int num_threads);

// Blends every tile; writes all of `image`.
void render(const CameraParams& cam, int num_objects, const ProjectedGaussians& proj,
            const TileBins& bins, const float* bg, const ImageBuffers& image, int num_threads);

// Gradients of every input from the gradients of the four images. Deterministic: the
// result does not depend on num_threads.
void backward(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
              const TileBins& bins, const float* bg, const ImageBuffers& image,
              const ImageGradients& grad, const GaussianGradients& out,
              const ScratchAllocator& scratch, int num_threads);

}  // namespace cpu

namespace cuda {

int64_t preprocess(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
                   const ScratchAllocator& scratch);

void bin(const CameraParams& cam, int count, int channels, const ProjectedGaussians& proj,
         const TileBins& bins, const ScratchAllocator& scratch);

void render(const CameraParams& cam, int num_objects, const ProjectedGaussians& proj,
            const TileBins& bins, const float* bg, const ImageBuffers& image);

void backward(const CameraParams& cam, const GaussianParams& in, const ProjectedGaussians& proj,
              const TileBins& bins, const float* bg, const ImageBuffers& image,
              const ImageGradients& grad, const GaussianGradients& out,
              const ScratchAllocator& scratch);

}  // namespace cuda
}  // namespace gs
