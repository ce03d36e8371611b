"""The identity classifier of Gaussian Grouping: a 1x1 convolution from the D-dimensional
identity encoding to `num_classes` logits, for rendered maps and for single Gaussians.
It subclasses `nn.Conv2d` so that its state dict (`weight`, `bias`) is GG's `classifier.pth`."""
from __future__ import annotations

import torch
from torch import nn


class IdentityClassifier(nn.Conv2d):
    def __init__(self, num_objects: int, num_classes: int):
        super().__init__(num_objects, num_classes, kernel_size=1)

    @property
    def num_classes(self) -> int:
        return self.out_channels

    def forward(self, identity_map: torch.Tensor) -> torch.Tensor:
        """Rendered identity map (D, H, W) -> logits (num_classes, H, W)."""
        return super().forward(identity_map[None])[0]

    def gaussian_probabilities(self, objects_dc: torch.Tensor) -> torch.Tensor:
        """Identity encodings (N, 1, D) -> class probabilities (N, num_classes)."""
        logits = torch.nn.functional.linear(objects_dc[:, 0, :], self.weight[:, :, 0, 0], self.bias)
        return torch.softmax(logits, dim=1)
