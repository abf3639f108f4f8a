"""DistributedSampler: each rank's share of a dataset's indices, as torch.utils.data's."""
from __future__ import annotations

import math

import numpy as np


class DistributedSampler:
    """The indices rank `rank` of `num_replicas` reads this epoch; call `set_epoch(e)` each epoch.

    With shuffle, every epoch is one permutation of the whole dataset (a fixed function of
    (seed, epoch), the same on every rank), dealt out round-robin, so the ranks together cover
    it exactly once. Without drop_last the permutation is padded with its own first indices
    to a multiple of num_replicas (every rank gets the same count); with drop_last the tail is
    dropped instead. num_replicas and rank default to cr.distributed's world size and rank.

    >>> s = cr.data.DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False)
    >>> list(s)
    [1, 3, 5, 7, 9]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "cr.distributed.init_process_group('mpi') first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if int(num_replicas) < 1 or not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the "
                             f"interval [0, {int(num_replicas) - 1}] (num_replicas "
                             f"{num_replicas})")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = (np.random.default_rng((self.seed, self.epoch)).permutation(n) if self.shuffle
                 else np.arange(n))
        if not self.drop_last and self.total_size > n:
            order = np.resize(order, self.total_size)   # repeats the order from its start
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s shuffle order next (call it on every rank before each epoch)."""
        self.epoch = int(epoch)
