"""Layers with parameters or randomness: Linear, Maxout, Dropout."""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from ..ops import nn as _nnops
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .module import Module, check_device
from .dtype_checks import check_input_dtype
from .parameter import Parameter


def _empty(*shape, dtype=None):
    return Parameter(np.empty(shape, dtype=dtype or get_default_dtype()))


def _weight_and_bias(m, shape, bias, dtype):
    """A weight of `shape`, a bias of shape[0] (or None), then the layer's own initialisation."""
    m.weight = _empty(*shape, dtype=dtype)
    if bias:
        m.bias = _empty(shape[0], dtype=dtype)
    else:
        m.register_parameter("bias", None)
    m.reset_parameters()


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out_features, in_features); one fused primitive.

    Initialised as in PyTorch: W ~ kaiming_uniform_(a=√5) = U(−1/√in, 1/√in), b ~ U(−1/√in, 1/√in).

    >>> layer = cr.nn.Linear(64, 100)
    >>> layer(cr.randn(8, 64)).shape
    (8, 100)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        check_device("Linear", device)
        self.in_features, self.out_features = int(in_features), int(out_features)
        _weight_and_bias(self, (out_features, in_features), bias, dtype)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        s = input.shape if isinstance(input, Tensor) else np.shape(input)
        if not s or s[-1] != self.in_features:
            raise ValueError(f"Linear: expected input with last dimension in_features="
                             f"{self.in_features}, got input shape {tuple(s)}")
        # straight to the fused primitive: the shapes of weight and bias were fixed at
        # construction, and reading _parameters skips Module.__getattr__ (a layer call is hot)
        ps = self._parameters
        return _nnops.Linear(input, ps["weight"], ps["bias"])

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y = x1ᵀ W x2 + b, W of shape (out_features, in1_features, in2_features).

    Initialised as in PyTorch: W and b ~ U(−1/√in1, 1/√in1).

    >>> cr.nn.Bilinear(3, 4, 5)(cr.randn(2, 3), cr.randn(2, 4)).shape
    (2, 5)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        check_device("Bilinear", device)
        self.in1_features, self.in2_features = int(in1_features), int(in2_features)
        self.out_features = int(out_features)
        _weight_and_bias(self, (out_features, in1_features, in2_features), bias, dtype)

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        check_input_dtype("Bilinear", input1, self.weight)
        check_input_dtype("Bilinear", input2, self.weight)
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Maxout(Module):
    """Maxout unit: y_k = max_j (W_j x + b_j)_k over `pieces` linear maps (Goodfellow et al. 2013).

    One Linear to out_features·pieces outputs, then a max over the pieces.

    >>> cr.nn.Maxout(4, 3, pieces=2)(cr.randn(5, 4)).shape
    (5, 3)
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        check_device("Maxout", device)
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias, dtype=dtype)

    def forward(self, input):
        return F.maxout(self.linear(input), self.pieces)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class Dropout(Module):
    """Inverted dropout: in training zero each element with probability p and scale by 1/(1−p).

    Identity in eval mode. Reproducible with cr.manual_seed.

    >>> d = cr.nn.Dropout(0.5).eval(); bool((d(cr.ones(3)) == 1).all())
    True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
