"""Short text for values and gradients: scalars as 0.73, tensors as shape + dtype + a summary."""
from __future__ import annotations

import numpy as np


def num(v: float) -> str:
    """A number the way the lecture writes it: two decimals, scientific when tiny or huge."""
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if v == 0 or 0.005 <= abs(v) < 1e4:
        s = f"{v:.2f}"
        return "0.00" if s == "-0.00" else s
    return f"{v:.2e}"


_DT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32",
       "bool": "bool"}


def shape_str(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def summary(a, multiline: bool = False) -> str:
    """0.73 for one number; `(3,) float64 [0.10, -0.20, 0.30]` for small tensors; shape, dtype,
    mean and range for big ones."""
    a = np.asarray(a)
    if a.ndim == 0 or (a.size == 1 and a.ndim == 0):
        return num(a) if a.dtype.kind in "fiub" else str(a)
    head = f"{shape_str(a.shape)} {_DT.get(a.dtype.name, a.dtype.name)}"
    if a.size == 0:
        return head
    sep = "\n" if multiline else " "
    if a.dtype.kind not in "fiub":
        return head
    if a.size <= 4:
        return head + sep + "[" + ", ".join(num(v) for v in a.reshape(-1)) + "]"
    f = a.astype(np.float64, copy=False)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        return head + sep + "all non-finite"
    return (head + sep + f"mean {num(finite.mean())} [{num(finite.min())}, {num(finite.max())}]"
            + ("" if finite.size == f.size else f" ({f.size - finite.size} nan/inf)"))


def nonfinite(a) -> bool:
    """True when a floating array holds NaN or inf."""
    if a is None:
        return False
    a = np.asarray(a)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


def short(a) -> str:
    """0.73 for one number, the shape for a tensor: a term of a sum."""
    a = np.asarray(a)
    if a.size == 1 and a.ndim == 0:
        return num(a)
    return shape_str(a.shape)


def fan_sum(root: str, name: str, parts, total) -> str:
    """`dL/dx = 2.00 + 2.00 + 0.00 + 4.00 = 8.00`: a value used k times gets the k gradients its
    consumers send back, added (the copy gate). Explain and the drawing both write it so."""
    terms = " + ".join(short(p) for p in parts)
    return f"d{root}/d{name} = {terms} = {summary(total)}"
