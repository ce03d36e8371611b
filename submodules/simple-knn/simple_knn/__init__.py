"""Exact k nearest neighbours of 3D points (C++ / CUDA); the functions live in `simple_knn._C`:
`distCUDA2(points)` as in 3D Gaussian Splatting, and `knn(query, points, k, exclude_self=False)`."""
