"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Unfold, Fold (PyTorch's
arguments, weight layout, initialisation and state_dict keys `weight`, `bias`)."""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import functional_conv as FC
from . import init
from .module import Module, check_device
from .dtype_checks import check_input_dtype
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    nd = 2
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        who = type(self).__name__
        check_device(who, device)
        nd = self.nd
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{who}: in_channels={in_channels} and out_channels={out_channels} must "
                             f"both be divisible by groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f"{who}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = FC.ntuple(kernel_size, nd, "kernel_size", who)
        self.stride = FC.ntuple(stride, nd, "stride", who)
        self.dilation = FC.ntuple(dilation, nd, "dilation", who)
        if isinstance(padding, str):
            FC.conv_padding(padding, nd, self.kernel_size, self.stride, self.dilation, who)   # validates
            self.padding = padding
        else:
            self.padding = FC.ntuple(padding, nd, "padding", who)
        self.output_padding = FC.ntuple(output_padding, nd, "output_padding", who)
        self.padding_mode = padding_mode
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(Tensor._make(np.empty(shape, dtype=dt), False))
        if bias:
            self.bias = Parameter(Tensor._make(np.empty(out_channels, dtype=dt), False))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: W ~ kaiming_uniform_(a=√5) = U(±1/√fan_in), b ~ U(±1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = init._calculate_fan_in_and_fan_out(self.weight)[0]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding}"   # 'same' unquoted, as PyTorch prints it
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.transposed and self.output_padding != (0,) * self.nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)

    def forward(self, input):
        ps = self._parameters
        check_input_dtype(type(self).__name__, input, ps["weight"])
        fn = F.conv1d if self.nd == 1 else F.conv2d
        if self.padding_mode == "zeros":
            return fn(input, ps["weight"], ps["bias"], self.stride, self.padding, self.dilation, self.groups)
        pairs = FC.conv_padding(self.padding, self.nd, self.kernel_size, self.stride, self.dilation,
                                type(self).__name__)
        flat = tuple(v for lo_hi in pairs[::-1] for v in lo_hi)   # F.pad order: last dim first
        x = F.pad(input, flat, mode=self.padding_mode)
        return fn(x, ps["weight"], ps["bias"], self.stride, 0, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L): weight (out_channels, in_channels/groups, k), bias (out_channels,).

    >>> cr.nn.Conv1d(3, 8, 5, padding='same')(cr.randn(2, 3, 20)).shape
    (2, 8, 20)
    """
    nd = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W): weight (out_channels, in_channels/groups, kH, kW).

    stride, padding (int, pair, 'same', 'valid'), dilation, groups, bias and padding_mode
    ('zeros', 'reflect', 'replicate', 'circular') as PyTorch; so is the initialisation.

    >>> cr.nn.Conv2d(1, 8, 3)(cr.randn(4, 1, 8, 8)).shape
    (4, 8, 6, 6)
    """
    nd = 2


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype, output_padding)

    def forward(self, input, output_size=None):
        ps = self._parameters
        op = "ConvTranspose1d" if self.nd == 1 else "ConvTranspose2d"
        check_input_dtype(op, input, ps["weight"])
        return FC._conv_transposend(self.nd, op, input, ps["weight"], ps["bias"], self.stride,
                                    self.padding, self.output_padding, self.groups, self.dilation,
                                    output_size)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution: weight (in_channels, out_channels/groups, k), as PyTorch."""
    nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution (the adjoint of Conv2d): weight (in_channels, out_channels/groups, kH, kW).

    >>> cr.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)(cr.randn(1, 8, 5, 5)).shape
    (1, 3, 10, 10)
    """
    nd = 2


class Unfold(Module):
    """im2col as a module: (N, C, H, W) -> (N, C·kH·kW, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """col2im as a module: (N, C·kH·kW, L) -> (N, C, *output_size), overlaps add."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
