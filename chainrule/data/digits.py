"""The UCI 8×8 handwritten digits (1797 images, 10 classes), from the copy scikit-learn ships."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def digits(flatten: bool = True) -> tuple[Tensor, Tensor]:
    """(X, y): X float32 pixel intensities scaled from 0..16 to [0, 1], y int64 labels 0..9.

    X has shape (1797, 64), or (1797, 8, 8) with flatten=False. Needs scikit-learn (no network:
    the data ships inside the package): pip install 'chainrule[data]'.

    >>> X, y = cr.data.digits(); X.shape, y.shape
    ((1797, 64), (1797,))
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("cr.data.digits needs scikit-learn, which ships the UCI digits: "
                          "pip install 'chainrule[data]'") from None
    d = load_digits()
    x = (np.asarray(d.data, dtype=np.float32) / np.float32(16.0))
    if not flatten:
        x = x.reshape(-1, 8, 8)
    return Tensor._make(np.ascontiguousarray(x), False), \
        Tensor._make(np.asarray(d.target, dtype=np.int64), False)
