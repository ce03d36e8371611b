"""The GradiSeg method on top of 3DGS: densification (3DGS and IGD), LA-KNN, the 3D identity loss and the schedule."""
