// cuda/render.cu compiled as C++ against cuda_emulation.h (GS_CUDA_EMULATION): the same kernels on CPU memory.
#include "../cuda/render.cu"
