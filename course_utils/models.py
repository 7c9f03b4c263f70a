"""The models of Part I (lessons 01-04): a 1D-CNN teacher and small MLP students.

Both take a batch of signals of shape ``(N, length)`` (MNIST-1D: length 40) and return
logits of shape ``(N, num_classes)``.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvTeacher(nn.Module):
    """Three strided 1D convolutions and a linear head.

    Each convolution halves the length (40 -> 20 -> 10 -> 5). ``features(x)`` returns the
    activations after each block, which lesson 04 uses for hint and attention transfer.
    """

    def __init__(self, length: int = 40, num_classes: int = 10, channels: int = 64):
        super().__init__()
        def block(c_in, c_out):
            return nn.Sequential(nn.Conv1d(c_in, c_out, 5, stride=2, padding=2),
                                 nn.BatchNorm1d(c_out), nn.ReLU())
        self.blocks = nn.ModuleList([block(1, channels), block(channels, channels),
                                     block(channels, channels)])
        out_len = length
        for _ in self.blocks:
            out_len = (out_len + 1) // 2
        self.head = nn.Linear(channels * out_len, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = x.unsqueeze(1) if x.dim() == 2 else x
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1].flatten(1))


class MLPStudent(nn.Module):
    """A small multilayer perceptron: ``in -> hidden -> ... -> num_classes`` with ReLU."""

    def __init__(self, in_features: int = 40, num_classes: int = 10, hidden: int | list[int] = 64):
        super().__init__()
        widths = [hidden] if isinstance(hidden, int) else list(hidden)
        layers, prev = [], in_features
        for width in widths:
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
