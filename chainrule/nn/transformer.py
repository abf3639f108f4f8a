"""Transformer, its encoder and decoder layers and stacks, with PyTorch's names, sub-modules and state_dict keys.

>>> layer = cr.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
>>> enc = cr.nn.TransformerEncoder(layer, num_layers=2)
>>> enc(cr.randn(3, 7, 16)).shape
(3, 7, 16)
"""
from __future__ import annotations

import copy

import numpy as np

from .. import functions as _f
from . import functional as F
from .attention import MultiheadAttention
from .container import ModuleList
from .layers import Dropout, Linear
from .module import Module, check_device
from .normalization import LayerNorm

_ACTIVATIONS = {"relu": _f.relu, "gelu": F.gelu}


class _Layer(Module):
    """What encoder and decoder layers share: the feed-forward block, LayerNorms norm1..normN and
    dropouts dropout1..dropoutN (PyTorch's names, registered in its order), the self-attention
    block and the feed-forward block (its dropout is the last one)."""

    def _parts(self, n, d_model, dim_feedforward, dropout, activation, eps, norm_first, bias,
               dtype):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        for k in range(1, n + 1):
            setattr(self, f"norm{k}", LayerNorm(d_model, eps=eps, bias=bias, dtype=dtype))
        for k in range(1, n + 1):
            setattr(self, f"dropout{k}", Dropout(dropout))
        self._ff_dropout = f"dropout{n}"
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"{type(self).__name__}: activation must be 'relu', 'gelu' or a "
                                 f"callable, got {activation!r}")
            activation = _ACTIVATIONS[activation]
        self.activation = activation

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal and attn_mask is None)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        drop = getattr(self, self._ff_dropout)
        return drop(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_Layer):
    """Self-attention then a feed-forward block, each with dropout, a residual and LayerNorm.

    norm_first=False (post-norm, the default): x = norm1(x + sa(x)); x = norm2(x + ff(x)).
    norm_first=True: x = x + sa(norm1(x)); x = x + ff(norm2(x)). activation: "relu", "gelu" or a
    callable ("gelu" is the exact erf form, as PyTorch).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device("TransformerEncoderLayer", device)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self._parts(2, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first,
                    bias, dtype)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x



class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer applied in turn, then an optional final norm.

    state_dict keys as PyTorch: layers.0.self_attn.in_proj_weight, ..., norm.weight.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm=None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoderLayer(_Layer):
    """Self-attention, cross-attention over `memory`, then a feed-forward block; each with dropout,
    a residual and LayerNorm (norm1..norm3), post-norm by default or pre-norm (norm_first), as
    PyTorch.

    >>> layer = cr.nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32)
    >>> layer(cr.randn(5, 2, 16), cr.randn(7, 2, 16)).shape
    (5, 2, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device("TransformerDecoderLayer", device)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self._parts(3, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first,
                    bias, dtype)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False):
        x = tgt
        sa = (tgt_mask, tgt_key_padding_mask, bool(tgt_is_causal))
        ca = (memory_mask, memory_key_padding_mask, bool(memory_is_causal))
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *sa)
            x = x + self._mha_block(self.norm2(x), memory, *ca)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, *sa))
            x = self.norm2(x + self._mha_block(x, memory, *ca))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal and attn_mask is None)[0]
        return self.dropout2(x)



class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer applied in turn to (tgt, memory), then an optional
    final norm; state_dict keys as PyTorch (layers.0.multihead_attn.in_proj_weight, ...)."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al. 2017) with PyTorch's defaults, sub-modules
    (encoder, decoder, each ending in a LayerNorm) and state_dict keys; every parameter with more
    than one dim is re-initialised xavier_uniform, as PyTorch.

    >>> model = cr.nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
    ...                           dim_feedforward=32)
    >>> model(cr.randn(7, 2, 16), cr.randn(5, 2, 16)).shape
    (5, 2, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device("Transformer", device)
        from . import init
        kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                  layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first,
                  bias=bias, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **kw), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **kw), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        ss, ts = tuple(src.shape), tuple(tgt.shape)
        b = 0 if self.batch_first else 1
        if len(ss) != len(ts) or (len(ss) == 3 and ss[b] != ts[b]):
            raise RuntimeError(f"Transformer: src {ss} and tgt {ts} must have the same batch size "
                               f"(dim {b}{', batch_first' if self.batch_first else ''})")
        if ss[-1] != self.d_model or ts[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature size of src {ss} and tgt {ts} must be "
                               f"d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
        """A (sz, sz) float mask: 0 on and below the diagonal, −inf above (a causal mask)."""
        from ..tensor import Tensor, get_default_dtype
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        m = np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1)
        return Tensor._make(m, False)
