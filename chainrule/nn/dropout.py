"""Dropout variants for feature maps and SELU networks: Dropout1d, Dropout2d, Dropout3d, AlphaDropout."""
from __future__ import annotations

from . import functional as F
from .module import Module


class _DropoutNd(Module):
    fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return type(self).fn(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) in training (probability p), scale the rest by 1/(1−p)."""
    fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole feature maps of (N, C, H, W) in training, scale the rest by 1/(1−p).

    >>> cr.nn.Dropout2d(0.5).eval()(cr.ones(1, 2, 3, 3)).shape
    (1, 2, 3, 3)
    """
    fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) in training, scale the rest by 1/(1−p)."""
    fn = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU's self-normalising mean and variance (PyTorch's formula)."""
    fn = staticmethod(F.alpha_dropout)
