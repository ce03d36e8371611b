// knn_cuda.cu compiled as C++ against the CUDA emulation layer (KNN_CUDA_EMULATION): the same
// kernel on host memory.
#include "knn_cuda.cu"
