"""Attention: F.scaled_dot_product_attention and nn.MultiheadAttention (PyTorch's names and masks).

Compositions of existing ops (matmul, softmax, where), so the gradients come from their rules.

>>> mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
>>> out, w = mha(x, x, x)          # x of shape (N, L, 16): out (N, L, 16), w (N, L, L)
"""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from ..ops import nn as _nnops
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, check_device
from .parameter import Parameter


def _shape(x):
    return tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _additive(mask, dtype, allowed_if_true: bool):
    """A float mask to add to the scores: bool masks become 0 / −inf, float masks are kept."""
    if mask is None:
        return None
    if _arr(mask).dtype == bool:
        if isinstance(mask, Tensor):   # through primitives: a traced program reads each mask
            blocked = _f.logical_not(mask) if allowed_if_true else mask
            return _f.where(blocked, -np.inf, 0.0).astype(dtype)
        blocked = ~mask if allowed_if_true else np.asarray(mask)
        return np.where(blocked, -np.inf, 0.0).astype(dtype)
    return mask


def _causal(l, s, dtype):
    return np.where(np.tril(np.ones((l, s), dtype=bool)), 0.0, -np.inf).astype(dtype)


def _attend(q, k, v, mask, dropout_p, scale):
    """softmax(q kᵀ·scale + mask) v with dropout on the weights: (output, weights)."""
    scores = _f.matmul(q, _f.swapaxes(k, -2, -1)) * scale
    if mask is not None:
        scores = scores + mask
    w = _f.softmax(scores, axis=-1)
    if dropout_p > 0:
        w = F.dropout(w, dropout_p, True)
    return _f.matmul(w, v), w


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(Q Kᵀ / √E + mask) V over the last two dims (..., L, E) × (..., S, E) → (..., L, Ev).

    attn_mask: bool (True = may attend, as PyTorch's SDPA) or float (added to the scores);
    is_causal: position i attends to positions ≤ i. A row with nothing to attend to gives NaN,
    as in PyTorch.

    >>> F.scaled_dot_product_attention(cr.randn(2, 5, 8), cr.randn(2, 7, 8), cr.randn(2, 7, 4)).shape
    (2, 5, 4)
    """
    qs, ks, vs = _shape(query), _shape(key), _shape(value)
    if len(qs) < 2 or qs[-1] != ks[-1] or ks[-2] != vs[-2]:
        raise ValueError(f"scaled_dot_product_attention: shapes query {qs}, key {ks}, value {vs} "
                         f"do not fit: expected (..., L, E), (..., S, E), (..., S, Ev)")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa=True is not supported")
    dt = _arr(query).dtype
    scale = 1.0 / math.sqrt(qs[-1]) if scale is None else scale
    mask = _additive(attn_mask, dt, allowed_if_true=True)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both")
        mask = _causal(qs[-2], ks[-2], dt)
    return _attend(query, key, value, mask, dropout_p, scale)[0]


class MultiheadAttention(Module):
    """Multi-head attention: heads of size embed_dim/num_heads over one packed in-projection.

    Parameters as PyTorch: in_proj_weight (3E, E), in_proj_bias (3E,), out_proj (Linear E→E);
    with kdim/vdim ≠ E separate q/k/v_proj_weight; add_bias_kv: bias_k, bias_v (1, 1, E) appended
    to the keys and values; add_zero_attn: a zero key and value appended after the projections.
    Masks as PyTorch's module: key_padding_mask (N, S) and bool attn_mask mark with True what may
    NOT be attended; float masks are added to the scores. Returns (output, weights averaged over
    heads or None).

    >>> mha = cr.nn.MultiheadAttention(8, 2)
    >>> out, w = mha(cr.randn(5, 3, 8), cr.randn(6, 3, 8), cr.randn(6, 3, 8)); w.shape
    (3, 5, 6)
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        check_device("MultiheadAttention", device)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.kdim = embed_dim if kdim is None else int(kdim)
        self.vdim = embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.add_zero_attn = add_zero_attn
        dt = dtype or get_default_dtype()
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:   # PyTorch's separate projections when key/value have their own sizes
            self.q_proj_weight = Parameter(np.empty((embed_dim, embed_dim), dtype=dt))
            self.k_proj_weight = Parameter(np.empty((embed_dim, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(np.empty((embed_dim, self.vdim), dtype=dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dt)
        if add_bias_kv:   # one learned key and value appended to every sequence
            self.bias_k = Parameter(np.empty((1, 1, embed_dim), dtype=dt))
            self.bias_v = Parameter(np.empty((1, 1, embed_dim), dtype=dt))
        else:
            self.bias_k = self.bias_v = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """in_proj_weight ~ xavier_uniform, biases 0 (out_proj.weight keeps Linear's init), as PyTorch."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        qs, ks, vs = _shape(query), _shape(key), _shape(value)
        e, h, hd = self.embed_dim, self.num_heads, self.head_dim
        if len(qs) not in (2, 3) or qs[-1] != e or ks[-1] != self.kdim or vs[-1] != self.vdim \
                or len(ks) != len(qs) or vs[:-1] != ks[:-1]:
            raise ValueError(f"MultiheadAttention: expected query (L, N, {e}), key (S, N, "
                             f"{self.kdim}) and value (S, N, {self.vdim}) (batch_first: N first) or "
                             f"unbatched (L, {e}); got query {qs}, key {ks}, value {vs}")
        batched = len(qs) == 3
        if not batched:
            # (L, E) -> (1, L, E): the (N, L, E) layout used below
            query, key, value = (_f.unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _f.unsqueeze(key_padding_mask, 0)
        elif not self.batch_first:
            # (L, N, E) -> (N, L, E); self-attention keeps one tensor so one projection serves all
            same_kv = key is value
            same = same_kv and query is key
            query = _f.swapaxes(query, 0, 1)
            key = query if same else _f.swapaxes(key, 0, 1)
            value = key if same_kv else _f.swapaxes(value, 0, 1)
        n, l = _shape(query)[:2]
        s = _shape(key)[1]
        w, b = self.in_proj_weight, self.in_proj_bias
        if w is not None and query is key and key is value:
            qkv = _nnops.Linear(query, w, b)
            q, k, v = qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        else:
            bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
            wq, wk, wv = ((w[:e], w[e:2 * e], w[2 * e:]) if w is not None else
                          (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight))
            q = _nnops.Linear(query, wq, bq)
            k = _nnops.Linear(key, wk, bk)
            v = _nnops.Linear(value, wv, bv)
        extra = 0   # key/value positions appended (bias_k/bias_v, a zero key/value), never masked
        if self.bias_k is not None:
            k = _f.concatenate([k, _f.broadcast_to(self.bias_k, (n, 1, e))], axis=1)
            v = _f.concatenate([v, _f.broadcast_to(self.bias_v, (n, 1, e))], axis=1)
            extra += 1
        # (N, L, E) -> (N, H, L, hd)
        q, k, v = (_f.swapaxes(_f.reshape(t, (n, ln, h, hd)), 1, 2)
                   for t, ln in ((q, l), (k, s + extra), (v, s + extra)))
        dt = _arr(q).dtype
        if self.add_zero_attn:
            zero = Tensor._make(np.zeros((n, h, 1, hd), dtype=dt), False)
            k, v = _f.concatenate([k, zero], axis=2), _f.concatenate([v, zero], axis=2)
            extra += 1
        mask = self._mask(attn_mask, key_padding_mask, is_causal, n, l, s, dt)
        if mask is not None and extra:
            mask = _f.pad(mask, [(0, 0)] * (len(_shape(mask)) - 1) + [(0, extra)], 0.0)
        out, weights = _attend(q, k, v, mask, self.dropout if self.training else 0.0,
                               1.0 / math.sqrt(hd))
        out = _f.reshape(_f.swapaxes(out, 1, 2), (n, l, e))
        out = self.out_proj(out)
        if not batched:
            out = _f.squeeze(out, 0)
        elif not self.batch_first:
            out = _f.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = _f.mean(weights, axis=1)
        if not batched:
            weights = _f.squeeze(weights, 0)
        return out, weights

    def _mask(self, attn_mask, key_padding_mask, is_causal, n, l, s, dt):
        """One additive mask broadcasting to (N, H, L, S), or None."""
        mask = None
        if attn_mask is not None:
            am = _additive(attn_mask, dt, allowed_if_true=False)
            ms = _shape(am)
            if ms == (l, s):
                mask = am
            elif ms == (n * self.num_heads, l, s):
                mask = _f.reshape(am, (n, self.num_heads, l, s))
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must have shape {(l, s)} or "
                                 f"{(n * self.num_heads, l, s)}, got {ms}")
        elif is_causal:
            mask = _causal(l, s, dt)
        if key_padding_mask is not None:
            if _shape(key_padding_mask) != (n, s):
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape {(n, s)}, "
                                 f"got {_shape(key_padding_mask)}")
            kp = _f.reshape(_additive(key_padding_mask, dt, allowed_if_true=False), (n, 1, 1, s))
            mask = kp if mask is None else mask + kp
        return mask

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"
