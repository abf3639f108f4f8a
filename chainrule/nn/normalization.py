"""BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm1d/2d, LocalResponseNorm."""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from .module import Module, check_device
from .dtype_checks import check_input_dtype
from .parameter import Parameter


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) input, with running statistics as buffers.

    Training: normalise with the batch mean and biased variance; update running_mean and
    running_var (unbiased) with `momentum` (momentum=None: cumulative average). Eval: use the
    running statistics. As in PyTorch.

    >>> bn = cr.nn.BatchNorm1d(3); _ = bn(cr.randn(8, 3)); [n for n, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
    """
    _ndims = (2, 3)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        check_device(type(self).__name__, device)
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(Tensor._make(np.ones(num_features, dtype=dt), False))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(Tensor._make(np.zeros(num_features, dtype=dt), False))
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
        F._bn_axes(input, self.num_features, type(self).__name__, self._ndims)
        check_input_dtype(type(self).__name__, input, self.weight, self.running_mean)
        tracking = self.training and self.track_running_stats
        if 0 in tuple(input.shape):   # an empty batch: empty output, statistics kept (PyTorch)
            if tracking:
                with autograd.no_grad():
                    self.num_batches_tracked.add_(1)
            return input * 1.0
        momentum = 0.0 if self.momentum is None else self.momentum
        if tracking and self.momentum is None:   # cumulative moving average
            # a 0-d Tensor, not int(): a compiled step reads each call's count
            momentum = 1.0 / (self.num_batches_tracked.astype(np.float64) + 1)
        use_batch = self.training or self.running_mean is None
        out = F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, use_batch, momentum, self.eps)
        if tracking:   # counted only after batch_norm accepted the input
            with autograd.no_grad():
                self.num_batches_tracked.add_(1)
        return out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


def _shaped_norm(m, who, normalized_shape, eps, elementwise_affine, device, dtype):
    """LayerNorm's and RMSNorm's shared set-up: the shape as a tuple, eps, the flag; their dtype."""
    check_device(who, device)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    m.normalized_shape = tuple(normalized_shape)
    m.eps, m.elementwise_affine = eps, elementwise_affine
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


class LayerNorm(Module):
    """Normalise over the trailing `normalized_shape` dims of each sample, then scale and shift.

    >>> cr.nn.LayerNorm(4)(cr.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        dt = _shaped_norm(self, "LayerNorm", normalized_shape, eps, elementwise_affine, device,
                          dtype)
        if elementwise_affine:
            self.weight = Parameter(Tensor._make(np.ones(self.normalized_shape, dtype=dt), False))
            if bias:
                self.bias = Parameter(Tensor._make(np.zeros(self.normalized_shape, dtype=dt), False))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        check_input_dtype("LayerNorm", input, self.weight)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class BatchNorm2d(BatchNorm1d):
    """Spatial batch normalisation of (N, C, H, W): statistics per channel over N, H and W.

    Running statistics, momentum (None: cumulative), affine, track_running_stats and train/eval as
    PyTorch; state_dict keys weight, bias, running_mean, running_var, num_batches_tracked.

    >>> cr.nn.BatchNorm2d(8)(cr.randn(4, 8, 5, 5)).shape
    (4, 8, 5, 5)
    """
    _ndims = (4,)


class BatchNorm3d(BatchNorm1d):
    """Batch normalisation of (N, C, D, H, W)."""
    _ndims = (5,)


class GroupNorm(Module):
    """Normalise each sample over groups of channels (Wu & He 2018); per-channel weight and bias.

    >>> cr.nn.GroupNorm(2, 6)(cr.randn(3, 6, 4, 4)).shape
    (3, 6, 4, 4)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device("GroupNorm", device)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                             f"num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if affine:
            self.weight = Parameter(Tensor._make(np.ones(num_channels, dtype=dt), False))
            if bias:
                self.bias = Parameter(Tensor._make(np.zeros(num_channels, dtype=dt), False))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        if len(input.shape) < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, ...), got shape "
                             f"{tuple(input.shape)}")
        check_input_dtype("GroupNorm", input, self.weight)
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(BatchNorm1d):
    """Per-(sample, channel) normalisation; PyTorch's defaults affine=False, track_running_stats=False."""
    _spatial = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, input):
        nd = self._spatial
        s = tuple(input.shape)
        if len(s) not in (nd + 1, nd + 2) or s[-nd - 1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input (N, {self.num_features}, ...) with "
                             f"{nd} spatial dims (or unbatched), got shape {s}")
        check_input_dtype(type(self).__name__, input, self.weight, self.running_mean)
        unbatched = len(s) == nd + 1
        x = input.reshape((1,) + s) if unbatched else input
        use_input_stats = self.training or not self.track_running_stats
        if use_input_stats and int(np.prod(s[-nd:])) <= 1:
            raise ValueError(f"{type(self).__name__}: expected more than 1 spatial element when "
                             f"using input statistics, got input shape {s}")
        momentum = 0.0 if self.momentum is None else self.momentum   # as PyTorch (no counter either)
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              use_input_stats, momentum, self.eps)
        return out.reshape(s) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L)."""
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) (style transfer's normalisation).

    >>> cr.nn.InstanceNorm2d(3)(cr.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """
    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W)."""
    _spatial = 3


class LocalResponseNorm(Module):
    """AlexNet's local response normalisation across `size` neighbouring channels.

    >>> cr.nn.LocalResponseNorm(5)(cr.randn(1, 8, 3, 3)).shape
    (1, 8, 3, 3)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing normalized_shape dims, times a learned
    weight (no mean subtracted, no bias); eps None: the input dtype's machine epsilon.

    >>> cr.nn.RMSNorm(4)(cr.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        dt = _shaped_norm(self, "RMSNorm", normalized_shape, eps, elementwise_affine, device,
                          dtype)
        if elementwise_affine:
            self.weight = Parameter(Tensor._make(np.ones(self.normalized_shape, dtype=dt), False))
        else:
            self.register_parameter("weight", None)

    def forward(self, input):
        check_input_dtype("RMSNorm", input, self.weight)
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
