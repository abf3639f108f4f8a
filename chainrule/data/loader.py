"""DataLoader: batches of a Dataset, optionally shuffled reproducibly (PyTorch's names)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from ..factories import as_numpy_generator, default_generator
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


_local = threading.local()


def worker_generator() -> np.random.Generator:
    """The generator random transforms should draw from: inside a DataLoader with a seed or a
    generator, one seeded per (seed, epoch, batch), so num_workers never changes the draws;
    elsewhere the cr.manual_seed generator.

    >>> flip = cr.data.transforms.RandomHorizontalFlip()   # draws from worker_generator()
    """
    rng = getattr(_local, "rng", None)
    return default_generator() if rng is None else rng


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

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, generator=None, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, seed: int | None = None, **kwargs):
        if kwargs:
            raise TypeError(f"DataLoader: unexpected argument(s) {sorted(kwargs)}")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, "
                                 "shuffle, sampler and drop_last")
            batch_size = 1
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle=True")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, "
                             f"got {batch_size!r}")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an integer >= 0, got {num_workers!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn or default_collate
        # accepted for PyTorch compatibility: workers are threads here, memory is never pinned
        self.num_workers, self.pin_memory, self.timeout = int(num_workers), pin_memory, timeout
        self.worker_init_fn, self.prefetch_factor = worker_init_fn, prefetch_factor
        self.persistent_workers, self.generator = persistent_workers, generator
        if seed is None and (self.shuffle or generator is not None):
            seed = int(as_numpy_generator(generator).integers(2 ** 63))
        self.seed = seed
        # per-batch generators for random transforms (worker_generator): from the seed when there
        # is one; with workers and no seed, from one drawn now (never from shared state in threads)
        self._aug_seed = seed if seed is not None or not self.num_workers else \
            int(default_generator().integers(2 ** 63))
        self.epoch = 0

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
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
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        e = self.epoch if epoch is None else epoch
        return np.random.default_rng((self.seed, e)).permutation(n)

    def _batches(self):
        if self.batch_sampler is not None:
            return [np.asarray(list(b), dtype=np.int64) for b in self.batch_sampler]
        idx = self.order()
        n = idx.size
        stop = n - n % self.batch_size if self.drop_last else n
        return [idx[start:start + self.batch_size] for start in range(0, stop, self.batch_size)]

    def _load(self, sel, epoch, k):
        if self._aug_seed is not None:
            _local.rng = np.random.default_rng((self._aug_seed, epoch, k))
        try:
            batch = self.collate_fn([self.dataset[int(i)] for i in sel])
        finally:
            _local.rng = None
        _check_batch(batch, "DataLoader")
        return batch

    def __iter__(self) -> Iterator[tuple]:
        epoch = self.epoch
        batches = self._batches()
        self.epoch += 1
        get_batch = getattr(self.dataset, "_get_batch", None)
        fast = get_batch is not None and self.collate_fn is default_collate \
            and get_batch(np.arange(0)) is not None
        if fast:   # data was validated when the TensorDataset was made
            for sel in batches:
                yield tuple(Tensor._make(a, False) for a in get_batch(sel))
        elif not self.num_workers:
            for k, sel in enumerate(batches):
                yield self._load(sel, epoch, k)
        else:
            yield from self._threaded(batches, epoch)

    def _threaded(self, batches, epoch):
        """Load batches in worker threads, a few ahead, and yield them in order."""
        counter = iter(range(self.num_workers))
        lock = threading.Lock()

        def init():
            if self.worker_init_fn is not None:
                with lock:
                    wid = next(counter)
                self.worker_init_fn(wid)
        ahead = self.num_workers * (self.prefetch_factor or 2)
        with ThreadPoolExecutor(self.num_workers, initializer=init) as pool:
            pending = [pool.submit(self._load, sel, epoch, k)
                       for k, sel in enumerate(batches[:ahead])]
            nxt = len(pending)
            for i in range(len(batches)):
                batch = pending[i].result()
                pending[i] = None
                if nxt < len(batches):
                    pending.append(pool.submit(self._load, batches[nxt], epoch, nxt))
                    nxt += 1
                yield batch
