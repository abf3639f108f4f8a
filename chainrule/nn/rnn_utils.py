"""cr.nn.utils.rnn: batching sequences of different lengths (PyTorch's names)."""
from __future__ import annotations

import numpy as np

from .. import functions as _f
from ..tensor import Tensor


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right"):
    """Stack tensors of shape (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padded with padding_value.

    Gradients flow back to each sequence (padding is a constant).

    >>> cr.nn.utils.rnn.pad_sequence([cr.ones(2, 3), cr.ones(4, 3)], batch_first=True).shape
    (2, 4, 3)
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    seqs = [s if isinstance(s, Tensor) else Tensor._make(np.asarray(s), False) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: expected at least one sequence, got none")
    trail = {tuple(s.shape[1:]) for s in seqs}
    if len(trail) != 1 or any(s.ndim == 0 for s in seqs):
        raise ValueError(f"pad_sequence: sequences must share their trailing dims, got shapes "
                         f"{[tuple(s.shape) for s in seqs]}")
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        extra = longest - s.shape[0]
        width = ((0, extra) if padding_side == "right" else (extra, 0),) + ((0, 0),) * (s.ndim - 1)
        padded.append(_f.pad(s, width, padding_value) if extra else s)
    return _f.stack(padded, axis=0 if batch_first else 1)


__all__ = ["pad_sequence"]
