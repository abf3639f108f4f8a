"""cr.nn.init: in-place initialisers with PyTorch's names and formulas, drawing from the seeded generator.

All run under no_grad on the tensor's array and return the tensor.

>>> w = cr.empty(100, 64); cr.nn.init.kaiming_uniform_(w, a=5 ** 0.5); w.shape
(100, 64)
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..factories import default_generator
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_"]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """Recommended gain for an activation (PyTorch's table): relu √2, tanh 5/3, leaky_relu √(2/(1+a²)), ...

    >>> cr.nn.init.calculate_gain('relu')
    1.4142135623730951
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, got "
                         f"shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _no_op(tensor) -> bool:
    """A tensor with no elements has no fan: initialising it does nothing (PyTorch warns too)."""
    if tensor.data.size == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def _fill(tensor, values):
    """Write values into the tensor's own array (identity kept: optimizers may hold it)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init: expected a cr.Tensor, got {type(tensor).__name__}")
    np.copyto(tensor.data, values, casting="unsafe")
    tensor._bump()
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, default_generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std²)."""
    return _fill(tensor, default_generator().normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    """Fill with N(mean, std²) redrawn until inside [a, b]."""
    rng = default_generator()
    out = rng.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():   # rejection sampling: each round redraws only the outliers
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out)


def constant_(tensor, val: float):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain: float = 1.0):
    """U(−b, b) with b = gain·√(6 / (fan_in + fan_out)) (Glorot)."""
    if _no_op(tensor):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """N(0, std²) with std = gain·√(2 / (fan_in + fan_out)) (Glorot)."""
    if _no_op(tensor):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """U(−b, b) with b = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a) (He).

    Linear's default weight init is kaiming_uniform_(w, a=√5), i.e. U(−1/√fan_in, 1/√fan_in).
    """
    if _no_op(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """N(0, std²) with std = gain / √fan (He)."""
    if _no_op(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain: float = 1.0):
    """A (semi-)orthogonal matrix times gain (Saxe et al. 2013), from the QR of a Gaussian; dims
    after the first are flattened, as PyTorch."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: expected a tensor with at least 2 dimensions, got shape "
                         f"{tuple(tensor.shape)}")
    if _no_op(tensor):
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = default_generator().normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))   # a unique decomposition: the distribution is uniform (Haar)
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))


def dirac_(tensor, groups: int = 1):
    """The identity kernel of a 3-, 4- or 5-D conv weight: a convolution that keeps the input's
    channels (per group)."""
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5) or shape[0] % groups:
        raise ValueError(f"dirac_: expected a 3-, 4- or 5-D tensor with dim 0 divisible by "
                         f"groups={groups}, got shape {shape}")
    out = np.zeros(shape)
    per = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for d in range(min(per, shape[1])):
            out[(g * per + d, d) + centre] = 1
    return _fill(tensor, out)


def sparse_(tensor, sparsity: float, std: float = 0.01):
    """N(0, std²) with ⌈sparsity·rows⌉ zeros in every column of a 2-D tensor (Martens 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: expected a 2-D tensor, got shape {tuple(tensor.shape)}")
    rows, cols = tensor.shape
    rng = default_generator()
    out = rng.normal(0.0, std, (rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        out[rng.permutation(rows)[:zeros], c] = 0
    return _fill(tensor, out)


__all__ += ["orthogonal_", "dirac_", "sparse_"]
