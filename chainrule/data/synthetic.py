"""Generated 2-D classification sets (pure NumPy, seeded): spirals, moons, circles, blobs, xor.

Each returns (X, y): X a float32 Tensor of shape (n, 2), y an int64 Tensor of class labels 0..k-1.
Without `seed`, points come from the cr.manual_seed generator.
"""
from __future__ import annotations

import numpy as np

from ..factories import default_generator
from ..tensor import Tensor


def _rng(seed):
    return default_generator() if seed is None else np.random.default_rng(seed)


def _counts(n: int, k: int, fn: str) -> np.ndarray:
    if not isinstance(n, (int, np.integer)) or n < k:
        raise ValueError(f"{fn}: n must be an integer >= the number of classes {k}, got {n!r}")
    counts = np.full(k, n // k)
    counts[: n % k] += 1
    return counts


def _out(x, y, rng, shuffle):
    if shuffle:
        p = rng.permutation(len(y))
        x, y = x[p], y[p]
    return Tensor._make(x.astype(np.float32), False), Tensor._make(y.astype(np.int64), False)


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int | None = None,
            shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """`classes` interleaved spiral arms (CS231n's toy set), n points in total, radius in (0, 1].

    `noise` is the std of the angle jitter (radians).

    >>> X, y = cr.data.spirals(300, classes=3, noise=0.2, seed=0); X.shape, int(y.max())
    ((300, 2), 2)
    """
    if classes < 1:
        raise ValueError(f"spirals: classes must be >= 1, got {classes}")
    rng = _rng(seed)
    xs, ys = [], []
    for c, m in enumerate(_counts(n, classes, "spirals")):
        r = np.linspace(0.0, 1.0, m + 1)[1:]   # skip r = 0: every arm's first point would be (0, 0)
        # arm c sweeps 4 radians starting at angle 4c, as in the CS231n notes
        t = np.linspace(c * 4.0, (c + 1) * 4.0, m) + rng.standard_normal(m) * noise
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(m, c))
    return _out(np.concatenate(xs), np.concatenate(ys), rng, shuffle)


def moons(n: int = 200, noise: float = 0.1, seed: int | None = None,
          shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (as scikit-learn's make_moons), Gaussian noise of std `noise`.

    >>> X, y = cr.data.moons(100, noise=0.1, seed=0); X.shape
    (100, 2)
    """
    rng = _rng(seed)
    n0, n1 = _counts(n, 2, "moons")
    a, b = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    x = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1),
                        np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)])
    x = x + rng.standard_normal(x.shape) * noise
    return _out(x, np.repeat([0, 1], [n0, n1]), rng, shuffle)


def circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int | None = None,
            shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """A small circle (class 1, radius `factor`) inside a unit circle (class 0), plus noise.

    >>> X, y = cr.data.circles(100, seed=0); X.shape
    (100, 2)
    """
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be in (0, 1), got {factor}")
    rng = _rng(seed)
    n0, n1 = _counts(n, 2, "circles")
    a = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    b = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    x = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1),
                        factor * np.stack([np.cos(b), np.sin(b)], 1)])
    x = x + rng.standard_normal(x.shape) * noise
    return _out(x, np.repeat([0, 1], [n0, n1]), rng, shuffle)


def blobs(n: int = 300, classes: int = 3, std: float = 1.0, seed: int | None = None,
          center_box: tuple = (-10.0, 10.0), shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Gaussian blobs: `classes` centres drawn uniformly in center_box², isotropic std `std`.

    >>> X, y = cr.data.blobs(90, classes=3, seed=0); X.shape
    (90, 2)
    """
    rng = _rng(seed)
    counts = _counts(n, classes, "blobs")
    centers = rng.uniform(center_box[0], center_box[1], size=(classes, 2))
    y = np.repeat(np.arange(classes), counts)
    x = centers[y] + rng.standard_normal((n, 2)) * std
    return _out(x, y, rng, shuffle)


def xor(n: int = 300, noise: float = 0.05, seed: int | None = None,
        shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """The XOR pattern: points uniform in [−1, 1]², class 1 where x₀·x₁ > 0 (the two diagonal
    quadrants), class 0 elsewhere; then Gaussian jitter of std `noise` (labels are not changed).

    Not linearly separable: a linear classifier stays near chance, one hidden layer solves it.

    >>> X, y = cr.data.xor(100, seed=0); X.shape, sorted(set(y.tolist()))
    ((100, 2), [0, 1])
    """
    _counts(n, 2, "xor")
    rng = _rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    x = x + rng.standard_normal(x.shape) * noise
    return _out(x, y, rng, shuffle)
