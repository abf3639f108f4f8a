"""Recurrent layers with PyTorch's names, parameter layout and gate order: RNN, LSTM, GRU and cells.

An LSTM or GRU layer direction is one fused primitive (ops/rnn.py, back-propagation through time in
one rule); RNN steps are compositions of existing ops. Parameters are named as in PyTorch
(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse), so a PyTorch state_dict loads.

>>> lstm = cr.nn.LSTM(10, 20, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(cr.randn(3, 5, 10))
>>> out.shape, h.shape
((3, 5, 20), (2, 3, 20))
"""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _f
from ..ops import nn as _nnops
from ..ops.rnn import GRULayer, LSTMLayer
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .module import Module, check_device
from .dtype_checks import check_input_dtype
from .parameter import Parameter

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _shape(x):
    return tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)


def _gru_bias(b_hh, w_hh):
    return b_hh if b_hh is not None else np.zeros(_shape(w_hh)[0], dtype=_f._data(w_hh).dtype)


def _step(mode, xg_t, h, c, w_hh, b_hh):
    """One time step from the input projection xg_t = x_t W_ihᵀ + b_ih: returns (h', c')."""
    if mode == "LSTM":
        if b_hh is not None:
            xg_t = xg_t + b_hh
        out = LSTMLayer(_f.unsqueeze(xg_t, 0), w_hh, h, c)
        return out[0], out[1]
    if mode == "GRU":
        return GRULayer(_f.unsqueeze(xg_t, 0), w_hh, _gru_bias(b_hh, w_hh), h)[0], None
    pre = xg_t + _nnops.Linear(h, w_hh, b_hh)
    return (_f.tanh(pre) if mode == "RNN_TANH" else _f.relu(pre)), None


def _run_projected(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr):
    """An LSTM direction with projections (proj_size > 0): h_t = W_hr (o ⊙ tanh c_t), composed of
    ops step by step (the fused LSTM primitive needs h of the hidden size)."""
    bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
    xg = _nnops.Linear(x, w_ih, bias)
    n = _shape(w_hr)[1]
    h, c, hs = h0, c0, []
    for t in range(_shape(x)[0]):
        gates = xg[t] + _nnops.Linear(h, w_hh, None)
        i, f, g, o = (gates[..., k * n:(k + 1) * n] for k in range(4))
        c = _f.sigmoid(f) * c + _f.sigmoid(i) * _f.tanh(g)
        h = _nnops.Linear(_f.sigmoid(o) * _f.tanh(c), w_hr, None)
        hs.append(h)
    return _f.stack(hs), h, c


def _run_direction(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    """One layer, one direction over x (T, B, I): (outputs (T, B, H), h_T, c_T)."""
    if w_hr is not None:
        return _run_projected(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
    if mode == "LSTM":
        # both biases enter every gate pre-activation: add them once (a vector), not per element
        xg = _nnops.Linear(x, w_ih, b_ih if b_hh is None else b_ih + b_hh)
        out = LSTMLayer(xg, w_hh, h0, c0)
        t = _shape(x)[0]
        return out[:t], out[t - 1], out[t]
    xg = _nnops.Linear(x, w_ih, b_ih)
    if mode == "GRU":
        out = GRULayer(xg, w_hh, _gru_bias(b_hh, w_hh), h0)
        return out, out[_shape(x)[0] - 1], None
    h, hs = h0, []
    for t in range(_shape(x)[0]):
        h, _ = _step(mode, xg[t], h, None, w_hh, b_hh)
        hs.append(h)
    return _f.stack(hs), h, None


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, input layout, layers and directions."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        check_device(name, device)
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported for LSTM, got {proj_size}")
        if proj_size < 0 or (proj_size and proj_size >= int(hidden_size)):
            raise ValueError(f"{name}: proj_size must be in [0, hidden_size={hidden_size}), got "
                             f"{proj_size}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        if int(hidden_size) <= 0 or int(num_layers) <= 0:
            raise ValueError(f"{name}: hidden_size and num_layers must be positive, got "
                             f"hidden_size={hidden_size}, num_layers={num_layers}")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.proj_size = int(proj_size)
        dt = dtype or get_default_dtype()
        g = _GATES[mode] * self.hidden_size
        out = self.proj_size or self.hidden_size   # the size of h (and of each output direction)
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            for sfx in self._suffixes():
                fan = self.input_size if layer == 0 else out * self.num_directions
                shapes = {"weight_ih": (g, fan), "weight_hh": (g, out)}
                if self.bias:
                    shapes.update(bias_ih=(g,), bias_hh=(g,))
                if self.proj_size:
                    shapes["weight_hr"] = (self.proj_size, self.hidden_size)
                for kind, shape in shapes.items():
                    pname = f"{kind}_l{layer}{sfx}"
                    setattr(self, pname, Parameter(np.empty(shape, dtype=dt)))
                    self._flat_weights_names.append(pname)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self):
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(−1/√hidden_size, 1/√hidden_size), as in PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Accepted for PyTorch compatibility (a cuDNN memory-layout call): does nothing here."""

    def _weights(self, layer, sfx):
        ps = self._parameters
        return (ps[f"weight_ih_l{layer}{sfx}"], ps[f"weight_hh_l{layer}{sfx}"],
                ps.get(f"bias_ih_l{layer}{sfx}"), ps.get(f"bias_hh_l{layer}{sfx}"),
                ps.get(f"weight_hr_l{layer}{sfx}"))

    def forward(self, input, hx=None):
        name = type(self).__name__
        s = _shape(input)
        if len(s) not in (2, 3) or s[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (T, B, {self.input_size})"
                             f"{' with batch_first (B, T, ...)' if self.batch_first else ''} or "
                             f"unbatched (T, {self.input_size}), got {s}")
        check_input_dtype(name, input, self._parameters["weight_ih_l0"])
        batched = len(s) == 3
        x = input if batched else _f.unsqueeze(input, 1)
        if batched and self.batch_first:
            x = _f.swapaxes(x, 0, 1)
        t, b = _shape(x)[:2]
        if t == 0:
            raise ValueError(f"{name}: the input sequence is empty (shape {s})")
        lstm = self.mode == "LSTM"
        n_states = self.num_layers * self.num_directions
        h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
        states = []
        for st, size in (((h0, self.proj_size or self.hidden_size), (c0, self.hidden_size))
                         if lstm else ((h0, self.hidden_size),)):
            want = (n_states, b, size)
            if st is None:
                st = np.zeros(want, dtype=_f._data(x).dtype)
            elif not batched:
                st = _f.unsqueeze(st, 1)
            if _shape(st) != want:
                raise ValueError(f"{name}: expected hidden state of shape {want}, got "
                                 f"{_shape(st)}")
            states.append(st)
        h0 = states[0]
        c0 = states[1] if lstm else None
        hn, cn = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                k = layer * self.num_directions + d
                xin = x if d == 0 else x[::-1]
                out, h, c = _run_direction(self.mode, xin, h0[k], c0[k] if lstm else None,
                                           *self._weights(layer, sfx))
                outs.append(out if d == 0 else out[::-1])
                hn.append(h)
                cn.append(c)
            x = outs[0] if len(outs) == 1 else _f.concatenate(outs, axis=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = _f.stack(hn)
        c_n = _f.stack(cn) if lstm else None
        if batched and self.batch_first:
            x = _f.swapaxes(x, 0, 1)
        if not batched:
            x, h_n = _f.squeeze(x, 1), _f.squeeze(h_n, 1)
            c_n = _f.squeeze(c_n, 1) if lstm else None
        return (x, (h_n, c_n)) if lstm else (x, h_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (or relu).

    >>> out, h = cr.nn.RNN(4, 8)(cr.randn(5, 2, 4)); out.shape
    (5, 2, 8)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (gate order i, f, g, o as PyTorch); returns (output, (h_n, c_n)).

    Each layer direction is one fused primitive with back-propagation through time in its rule.

    >>> out, (h, c) = cr.nn.LSTM(4, 8, bidirectional=True)(cr.randn(5, 2, 4)); out.shape
    (5, 2, 16)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (gate order r, z, n as PyTorch): n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)).

    >>> out, h = cr.nn.GRU(4, 8, num_layers=2)(cr.randn(5, 2, 4)); h.shape
    (2, 2, 8)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


class RNNCellBase(Module):
    """One step of an RNN, LSTM or GRU on (B, input_size) or unbatched (input_size,) input."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        check_device(type(self).__name__, device)
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        dt = dtype or get_default_dtype()
        g = _GATES[mode] * self.hidden_size
        self.weight_ih = Parameter(np.empty((g, self.input_size), dtype=dt))
        self.weight_hh = Parameter(np.empty((g, self.hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.empty((g,), dtype=dt))
            self.bias_hh = Parameter(np.empty((g,), dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def forward(self, input, hx=None):
        name = type(self).__name__
        s = _shape(input)
        if len(s) not in (1, 2) or s[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (B, {self.input_size}) or "
                             f"({self.input_size},), got {s}")
        check_input_dtype(name, input, self._parameters["weight_ih"])
        batched = len(s) == 2
        x = input if batched else _f.unsqueeze(input, 0)
        b = _shape(x)[0]
        lstm = self.mode == "LSTM"
        if hx is None:
            z = np.zeros((b, self.hidden_size), dtype=_f._data(x).dtype)
            h, c = z, z
        else:
            h, c = hx if lstm else (hx, None)
            if not batched:
                h = _f.unsqueeze(h, 0)
                c = _f.unsqueeze(c, 0) if lstm else None
        for st in ((h, c) if lstm else (h,)):
            if _shape(st) != (b, self.hidden_size):
                raise ValueError(f"{name}: expected hidden state of shape "
                                 f"{(b, self.hidden_size) if batched else (self.hidden_size,)}, "
                                 f"got {_shape(st) if batched else _shape(st)[1:]}")
        xg = _nnops.Linear(x, self.weight_ih, self.bias_ih)
        h, c = _step(self.mode, xg, h, c, self.weight_hh, self.bias_hh)
        if not batched:
            h = _f.squeeze(h, 0)
            c = _f.squeeze(c, 0) if lstm else None
        return (h, c) if lstm else h

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or relu).

    >>> cr.nn.RNNCell(4, 8)(cr.randn(2, 4)).shape
    (2, 8)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') = LSTMCell(x, (h, c)).

    >>> h, c = cr.nn.LSTMCell(4, 8)(cr.randn(2, 4)); c.shape
    (2, 8)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    """One GRU step: h' = GRUCell(x, h).

    >>> cr.nn.GRUCell(4, 8)(cr.randn(2, 4)).shape
    (2, 8)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)
