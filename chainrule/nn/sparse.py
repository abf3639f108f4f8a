"""Embedding: a lookup table of vectors, rows picked by integer indices (PyTorch's names)."""
from __future__ import annotations

import numpy as np

from .. import functions as _f
from ..ops.rnn import Embedding as _Lookup
from ..tensor import Tensor, get_default_dtype
from . import init
from .module import Module, check_device
from .parameter import Parameter


def _indices(input, who, n):
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be integers, got dtype {idx.dtype} "
                        f"(shape {idx.shape})")
    if idx.size and (idx.min() < 0 or idx.max() >= n):   # PyTorch refuses negative indices too
        raise IndexError(f"{who}: index out of range: expected values in [0, {n}) for "
                         f"{n} embeddings, got values in [{idx.min()}, {idx.max()}]")
    return idx


def _renorm_rows(weight, ids, max_norm, norm_type):
    """Rescale the looked-up rows of weight in place to norm ≤ max_norm (PyTorch's embedding_renorm_).

    Tensor ops under no_grad, so cr.compile records the rescale and repeats it on every call's rows;
    a row looked up twice is written twice with the same value.
    """
    from .. import autograd
    with autograd.no_grad():
        flat = ids.reshape(-1) if isinstance(ids, Tensor) else np.asarray(ids).reshape(-1)
        rows = weight[flat]
        if norm_type == 2:
            norms = _f.sqrt(_f.sum(rows * rows, 1))
        else:
            norms = _f.sum(_f.abs(rows) ** norm_type, 1) ** (1.0 / norm_type)
        scale = _f.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[flat] = rows * _f.unsqueeze(scale, 1).astype(weight.dtype)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of weight (num_embeddings, dim) picked by integer `input`: output shape input.shape + (dim,).

    The gradient is an index-add into the rows used; the padding_idx row gets none. With max_norm,
    the rows looked up are first rescaled in place to norm ≤ max_norm (as PyTorch).

    >>> F.embedding(cr.tensor([[0, 2]]), cr.randn(5, 3)).shape
    (1, 2, 3)
    """
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (dense gradients only)")
    n = weight.shape[0]
    idx = _indices(input, "embedding", n)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    ids = input if isinstance(input, Tensor) else idx   # a Tensor: traced programs read it
    if max_norm is not None:
        _renorm_rows(weight, ids, max_norm, norm_type)
    out = _Lookup(weight, ids)
    if padding_idx is not None and isinstance(weight, Tensor) and weight.requires_grad:
        # the padding row's value as a constant: no gradient reaches it (primitives only, so a
        # traced program finds each call's padding positions)
        keep = _f.unsqueeze(_f.ne(ids, padding_idx), -1)
        out = _f.where(keep, out, _Lookup(weight.detach(), ids))
    if scale_grad_by_freq and isinstance(out, Tensor) and out.requires_grad:
        # each position's gradient divided by how often its index occurs in this batch; the
        # forward value is out exactly (out − out.detach() is 0)
        uniq, inv, counts = np.unique(idx, return_inverse=True, return_counts=True)
        scale = (1.0 / counts[inv.reshape(idx.shape)]).astype(out.dtype)[..., None]
        base = out.detach()
        out = base + (out - base) * Tensor._make(scale, False)
    return out


class Embedding(Module):
    """A table of num_embeddings vectors of size embedding_dim, initialised N(0, 1) (padding row 0).

    >>> emb = cr.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(cr.tensor([[1, 2, 0]])).shape
    (1, 3, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        check_device("Embedding", device)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"[-{self.num_embeddings}, {self.num_embeddings})")
            padding_idx %= self.num_embeddings
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                             dtype=dtype or get_default_dtype()),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {w.shape}, expected "
                                 f"{(self.num_embeddings, self.embedding_dim)}")
            self.weight = Parameter(np.array(w), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding holding a copy of `embeddings` (2-D); frozen (no gradient) by default."""
        shape = tuple(embeddings.shape)
        if len(shape) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {shape}")
        return cls(shape[0], shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq,
                   sparse, _weight=embeddings, _freeze=freeze)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
