"""Image transforms for arrays of shape (C, H, W) or (H, W) (torchvision's names): Compose,
RandomCrop (with padding), RandomHorizontalFlip, Normalize.

Random transforms draw from `cr.data.loader.worker_generator()`: inside a DataLoader with a seed
or generator the draws are fixed per (seed, epoch, batch), whatever num_workers is.

>>> aug = T.Compose([T.RandomCrop(8, padding=1), T.RandomHorizontalFlip(), T.Normalize([0.5], [0.2])])
>>> aug(np.zeros((1, 8, 8), dtype=np.float32)).shape
(1, 8, 8)
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .loader import worker_generator


def _unwrap(img, who):
    arr = img.data if isinstance(img, Tensor) else np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"{who}: expected an image of shape (C, H, W) or (H, W), got {arr.shape}")
    return arr, isinstance(img, Tensor)


def _wrap(arr, was_tensor):
    return Tensor._make(np.ascontiguousarray(arr), False) if was_tensor else arr


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class RandomCrop:
    """Pad the last two dims by `padding` (int, (w, h) or (left, top, right, bottom)), then crop a
    random size × size window. padding_mode: constant (with fill), edge, reflect, symmetric."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant"):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.pad_if_needed, self.fill = padding, pad_if_needed, fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode must be constant, edge, reflect or "
                             f"symmetric, got {padding_mode!r}")
        self.padding_mode = padding_mode

    def _pad(self, arr, left, top, right, bottom):
        width = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return np.pad(arr, width, mode="constant", constant_values=self.fill)
        return np.pad(arr, width, mode=self.padding_mode)

    def __call__(self, img):
        arr, was = _unwrap(img, "RandomCrop")
        p = self.padding
        if p is not None:
            p = (p,) * 4 if isinstance(p, int) else (tuple(p) * 2 if len(p) == 2 else tuple(p))
            arr = self._pad(arr, *p)
        th, tw = self.size
        h, w = arr.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            arr = self._pad(arr, max(tw - w, 0), max(th - h, 0), max(tw - w, 0), max(th - h, 0))
            h, w = arr.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) image "
                             f"{(h, w)}")
        rng = worker_generator()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return _wrap(arr[..., i:i + th, j:j + tw], was)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Flip the last dim with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img):
        arr, was = _unwrap(img, "RandomHorizontalFlip")
        if worker_generator().random() < self.p:
            arr = arr[..., ::-1]
        return _wrap(arr, was)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """(img − mean[c]) / std[c] per channel of a (C, H, W) image (or one value for (H, W))."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        if (self.std == 0).any():
            raise ValueError(f"Normalize: std {std} has a zero, which would divide by zero")

    def __call__(self, img):
        arr, was = _unwrap(img, "Normalize")
        shape = (-1, 1, 1) if arr.ndim == 3 else ()
        if arr.ndim == 3 and self.mean.size not in (1, arr.shape[0]):
            raise ValueError(f"Normalize: {self.mean.size} means for an image of {arr.shape[0]} "
                             f"channels (shape {arr.shape})")
        dt = arr.dtype if arr.dtype.kind == "f" else np.float32
        out = (arr - self.mean.reshape(shape).astype(dt)) / self.std.reshape(shape).astype(dt)
        return _wrap(out.astype(dt, copy=False), was)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "Normalize"]
