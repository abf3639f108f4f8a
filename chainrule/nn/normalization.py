"""BatchNorm1d and LayerNorm."""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from .module import Module, check_device
from .parameter import Parameter


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) input, with running statistics as buffers.

    Training: normalise with the batch mean and biased variance; update running_mean and
    running_var (unbiased) with `momentum` (momentum=None: cumulative average). Eval: use the
    running statistics. As in PyTorch.

    >>> bn = cr.nn.BatchNorm1d(3); _ = bn(cr.randn(8, 3)); [n for n, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        check_device("BatchNorm1d", device)
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dt))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(num_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(num_features, dtype=dt), False))
            self.register_buffer("running_var", Tensor._make(np.ones(num_features, dtype=dt), False))
            self.register_buffer("num_batches_tracked", Tensor._make(np.zeros((), dtype=np.int64), False))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input):
        F._bn_axes(input, self.num_features, "BatchNorm1d")
        tracking = self.training and self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if tracking and self.momentum is None:   # cumulative moving average
            momentum = 1.0 / (int(self.num_batches_tracked.data) + 1)
        use_batch = self.training or self.running_mean is None
        out = F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, use_batch, momentum, self.eps)
        if tracking:   # counted only after batch_norm accepted the input
            if hasattr(autograd.current_tracer(), "records_backward"):
                with autograd.no_grad():   # cr.compile: a traced in-place add
                    self.num_batches_tracked.add_(1)
            else:
                self.num_batches_tracked.data += 1
        return out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Normalise over the trailing `normalized_shape` dims of each sample, then scale and shift.

    >>> cr.nn.LayerNorm(4)(cr.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device("LayerNorm", device)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
