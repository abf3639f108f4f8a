"""cr.data: datasets, batching and built-in data (PyTorch's torch.utils.data names).

>>> X, y = cr.data.moons(200, seed=0)
>>> loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
"""
from .dataset import Dataset, Subset, TensorDataset, random_split
from .digits import digits
from .loader import DataLoader, default_collate, worker_generator
from . import transforms
from .synthetic import blobs, circles, moons, spirals, xor
from .sampler import DistributedSampler

DATASETS = {"digits": digits, "spirals": spirals, "moons": moons, "circles": circles,
            "blobs": blobs, "xor": xor}


def load_dataset(name: str, seed: int | None = 0) -> tuple:
    """(X, y) of a built-in dataset by name: digits, spirals, moons, circles or blobs."""
    if name not in DATASETS:
        raise ValueError(f"cr.data.load_dataset: unknown dataset {name!r}; expected one of "
                         f"{', '.join(DATASETS)}")
    return DATASETS[name]() if name == "digits" else DATASETS[name](seed=seed)


__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate",
           "worker_generator", "transforms", "DistributedSampler", "digits", "spirals", "moons",
           "circles", "blobs", "xor", "load_dataset", "DATASETS"]
