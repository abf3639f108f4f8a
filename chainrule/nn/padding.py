"""Padding layers (PyTorch's names): ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad
in 1d/2d/3d, each a call of F.pad; plus ChannelShuffle and Softmax2d."""
from __future__ import annotations

from . import functional as F
from .module import Module


class _Pad(Module):
    mode, nd = "constant", 1

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * (2 * self.nd)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 * self.nd:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.nd} "
                             f"ints (left, right, ...), got {padding}")
        self.padding, self.value = padding, value

    def forward(self, input):
        s = tuple(input.shape)
        if len(s) not in (self.nd + 1, self.nd + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self.nd + 1}-D or "
                             f"{self.nd + 2}-D input, got shape {s}")
        if self.mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}" if self.mode == "constant" else f"{self.padding}"


class _CopyPad(_Pad):
    def __init__(self, padding):   # reflect, replicate, circular: no fill value
        super().__init__(padding)


def _pad_class(name, mode, nd, doc):
    return type(name, (_CopyPad,), {"mode": mode, "nd": nd, "__doc__": doc, "__module__": __name__})


class _ConstantPad(_Pad):
    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class _ZeroPad(_Pad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


def _const(name, nd, base, doc):
    return type(name, (base,), {"nd": nd, "__doc__": doc, "__module__": __name__})


ConstantPad1d = _const("ConstantPad1d", 1, _ConstantPad, "Pad the last dim with `value`.")
ConstantPad2d = _const("ConstantPad2d", 2, _ConstantPad,
                       "Pad the last 2 dims with `value`.\n\n    >>> cr.nn.ConstantPad2d(1, 3.5)"
                       "(cr.zeros(1, 2, 2)).shape\n    (1, 4, 4)\n    ")
ConstantPad3d = _const("ConstantPad3d", 3, _ConstantPad, "Pad the last 3 dims with `value`.")
ZeroPad1d = _const("ZeroPad1d", 1, _ZeroPad, "Pad the last dim with zeros.")
ZeroPad2d = _const("ZeroPad2d", 2, _ZeroPad, "Pad the last 2 dims with zeros (padding: left, right, "
                   "top, bottom).")
ZeroPad3d = _const("ZeroPad3d", 3, _ZeroPad, "Pad the last 3 dims with zeros.")
ReflectionPad1d = _pad_class("ReflectionPad1d", "reflect", 1, "Mirror the last dim (edge not repeated).")
ReflectionPad2d = _pad_class("ReflectionPad2d", "reflect", 2, "Mirror the last 2 dims.")
ReflectionPad3d = _pad_class("ReflectionPad3d", "reflect", 3, "Mirror the last 3 dims.")
ReplicationPad1d = _pad_class("ReplicationPad1d", "replicate", 1, "Repeat the edge of the last dim.")
ReplicationPad2d = _pad_class("ReplicationPad2d", "replicate", 2, "Repeat the edges of the last 2 dims.")
ReplicationPad3d = _pad_class("ReplicationPad3d", "replicate", 3, "Repeat the edges of the last 3 dims.")
CircularPad1d = _pad_class("CircularPad1d", "circular", 1, "Wrap the last dim around.")
CircularPad2d = _pad_class("CircularPad2d", "circular", 2, "Wrap the last 2 dims around.")
CircularPad3d = _pad_class("CircularPad3d", "circular", 3, "Wrap the last 3 dims around.")


class ChannelShuffle(Module):
    """(N, g·c, ...) -> (N, c·g, ...): interleave the channels of `groups` groups (ShuffleNet).

    >>> cr.nn.ChannelShuffle(2)(cr.arange(4.0).reshape(1, 4, 1, 1)).reshape(4)
    tensor([0., 2., 1., 3.])
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = int(groups)

    def forward(self, input):
        s = tuple(input.shape)
        g = self.groups
        if len(s) < 3 or g <= 0 or s[1] % g:
            raise ValueError(f"ChannelShuffle: expected input (N, C, ...) with C divisible by "
                             f"groups={g}, got shape {s}")
        x = input.reshape((s[0], g, s[1] // g) + s[2:]).swapaxes(1, 2)
        return x.reshape(s)

    def extra_repr(self):
        return f"groups={self.groups}"


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) input, at each location."""

    def forward(self, input):
        s = tuple(input.shape)
        if len(s) not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3-D or 4-D input, got shape {s}")
        return F.softmax(input, -3)
