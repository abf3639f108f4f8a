"""Datasets: the Dataset protocol, TensorDataset, Subset and random_split (PyTorch's names)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..factories import default_generator
from ..tensor import Tensor


class Dataset:
    """A map-style dataset: implement `__getitem__(i)` and `__len__()`.

    >>> class Squares(cr.data.Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return cr.tensor([float(i)]), i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def _get_batch(self, indices: np.ndarray):
        """A whole batch at once as a tuple of arrays, or None when only per-item access exists."""
        return None


def check_finite(arr: np.ndarray, where: str, what: str) -> None:
    """Raise one clear ValueError if a floating array holds NaN or ±inf (training would go NaN)."""
    if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
        return
    nan = np.isnan(arr)
    kind, bad = ("NaN", nan) if nan.any() else ("inf", ~np.isfinite(arr))
    first = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
    raise ValueError(f"{where}: {what} (shape {arr.shape}) contains {int(bad.sum())} {kind} "
                     f"value(s), first at index {tuple(int(i) for i in first)}; clean or impute "
                     f"the data before training")


def _as_array(t) -> np.ndarray:
    if isinstance(t, Tensor):
        return t.data
    arr = np.asarray(t)
    if arr.dtype.kind == "O":
        raise TypeError(f"TensorDataset: cannot hold {type(t).__name__} data (object dtype)")
    return arr


class TensorDataset(Dataset):
    """Rows of several tensors with the same first dimension: item i is (t[i] for t in tensors).

    Data is checked once here (equal lengths, no NaN/inf), and DataLoader batches it by indexing
    whole arrays, without a Python loop over samples.

    >>> ds = cr.data.TensorDataset(cr.randn(10, 3), cr.arange(10))
    >>> len(ds), ds[2][0].shape
    (10, (3,))
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        arrays = [_as_array(t) for t in tensors]
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; expected a first (sample) "
                                 f"dimension")
        n = arrays[0].shape[0]
        for i, a in enumerate(arrays[1:], 1):
            if a.shape[0] != n:
                shapes = ", ".join(str(x.shape) for x in arrays)
                raise ValueError(f"TensorDataset: size mismatch between tensors: tensor 0 has {n} "
                                 f"rows, tensor {i} has {a.shape[0]} (shapes {shapes}); expected "
                                 f"the same first dimension")
        for i, a in enumerate(arrays):
            check_finite(a, "TensorDataset", f"tensor {i}")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor._make(a, False)
                             for t, a in zip(tensors, arrays))

    def __getitem__(self, index):
        return tuple(Tensor._make(np.asarray(t.data[index]), False) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].data.shape[0]

    def _get_batch(self, indices):
        return tuple(t.data[indices] for t in self.tensors)


class Subset(Dataset):
    """The items of `dataset` at `indices` (a fast batch path is kept for TensorDataset)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of length {n}")

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[int(self.indices[i])] for i in index]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return int(self.indices.size)

    def _get_batch(self, indices):
        get = getattr(self.dataset, "_get_batch", None)
        return None if get is None else get(self.indices[indices])

    @property
    def tensors(self) -> tuple:
        """The subset as whole tensors (Subset of a TensorDataset only), e.g. to evaluate at once."""
        batch = self._get_batch(np.arange(len(self)))
        if batch is None:
            raise TypeError(f"Subset.tensors: the underlying {type(self.dataset).__name__} has no "
                            f"tensors; iterate a DataLoader instead")
        return tuple(Tensor._make(a, False) for a in batch)


def _split_lengths(n: int, lengths: Sequence) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: expected at least one length")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != n:
            raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to the "
                             f"dataset length {n}, got sum {sum(lengths)}")
        return [int(x) for x in lengths]
    fr = [float(x) for x in lengths]
    if any(f < 0 or f > 1 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise ValueError(f"random_split: fractions {lengths} must be in [0, 1] and sum to 1")
    # PyTorch's rule: floor each share, then hand out the remainder one by one, round robin.
    out = [int(np.floor(n * f)) for f in fr]
    for i in range(n - sum(out)):
        out[i % len(out)] += 1
    return out


def random_split(dataset, lengths: Sequence, seed: int | None = None) -> list[Subset]:
    """Split a dataset into disjoint random Subsets of given lengths (or fractions summing to 1).

    `seed` makes the split reproducible; without it the cr.manual_seed generator is used.

    >>> train, test = cr.data.random_split(ds, [0.8, 0.2], seed=0)
    """
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    rng = default_generator() if seed is None else np.random.default_rng(seed)
    perm = rng.permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
