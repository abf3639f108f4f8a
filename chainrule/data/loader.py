"""DataLoader: batches of a Dataset, optionally shuffled reproducibly (PyTorch's names)."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..factories import default_generator
from ..tensor import Tensor
from .dataset import check_finite


def default_collate(samples: list):
    """Stack a list of samples into a batch: tuples stay tuples, dicts stay dicts, leaves -> Tensor.

    >>> default_collate([(cr.tensor([1.0]), 0), (cr.tensor([2.0]), 1)])[1]
    tensor([0, 1])
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError(f"DataLoader: samples have different numbers of fields "
                             f"({sorted({len(s) for s in samples})}); expected {len(first)} each")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    arrays = [s.data if isinstance(s, Tensor) else np.asarray(s) for s in samples]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"DataLoader: cannot batch samples of different shapes {sorted(shapes)}; "
                         f"expected one shape (pass collate_fn to batch them yourself)")
    out = np.stack(arrays)
    if out.dtype.kind in "iu" and not isinstance(first, (np.ndarray, Tensor)):
        out = out.astype(np.int64)   # Python ints become int64 labels, as in PyTorch
    elif out.dtype == np.float64 and isinstance(first, float):
        out = out.astype(np.float32)
    return Tensor._make(out, False)


def _check_batch(batch, where):
    stack = [batch]
    while stack:   # iterative walk over the (tiny) nested batch structure
        b = stack.pop()
        if isinstance(b, (tuple, list)):
            stack.extend(b)
        elif isinstance(b, dict):
            stack.extend(b.values())
        elif isinstance(b, Tensor):
            check_finite(b.data, where, "a batch")


class DataLoader:
    """Iterate a dataset in batches: `for x, y in DataLoader(ds, batch_size=64, shuffle=True)`.

    Batches are tuples of Tensors. With `shuffle=True` the order of epoch e is a fixed function of
    (seed, e): pass `seed`, or the loader draws one from the cr.manual_seed generator when built.
    Every pass over the loader is the next epoch; `set_epoch(e)` / `state_dict()` let training
    resume with the same order. TensorDataset (and Subsets of it) are batched by indexing whole arrays.

    >>> ds = cr.data.TensorDataset(cr.randn(10, 3), cr.arange(10))
    >>> [x.shape for x, y in cr.data.DataLoader(ds, batch_size=4)]
    [(4, 3), (4, 3), (2, 3)]
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, collate_fn=None):
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, "
                             f"got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn or default_collate
        if seed is None and self.shuffle:
            seed = int(default_generator().integers(2 ** 63))
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use the shuffle order of `epoch` (0-based)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = state["seed"], int(state["epoch"])

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices of one epoch, in the order they will be batched."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        e = self.epoch if epoch is None else epoch
        return np.random.default_rng((self.seed, e)).permutation(n)

    def __iter__(self) -> Iterator[tuple]:
        idx = self.order()
        self.epoch += 1
        n = idx.size
        stop = n - n % self.batch_size if self.drop_last else n
        get_batch = getattr(self.dataset, "_get_batch", None)
        fast = get_batch is not None and self.collate_fn is default_collate \
            and get_batch(idx[:0]) is not None
        for start in range(0, stop, self.batch_size):
            sel = idx[start:start + self.batch_size]
            if fast:   # data was validated when the TensorDataset was made
                yield tuple(Tensor._make(a, False) for a in get_batch(sel))
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in sel])
                _check_batch(batch, "DataLoader")
                yield batch
