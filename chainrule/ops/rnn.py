"""Fused recurrent primitive: a whole LSTM layer (one direction) as one node, and the embedding lookup.

An LSTM written as single ops costs ~15 nodes per time step; as one primitive the forward is a NumPy
loop over time and the backward is back-propagation through time in one rule (what a hand-written
NumPy LSTM does), so a 50-step layer is one node instead of 750.
"""
from __future__ import annotations

import numpy as np

from .base import Primitive, Sample, register
from .shape import GetItem, ScatterAdd


def _sig(x):
    # NOTE: σ(x) = (1 + tanh(x/2)) / 2 never overflows, and works on arrays and Tensors alike
    return (np.tanh(x * 0.5) + 1.0) * 0.5


def _split4(a, n):
    return a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]


def lstm_scan(xg, w_hh, h0, c0):
    """The LSTM recurrence over time on arrays or Tensors (gate order i, f, g, o as PyTorch).

    xg (T, B, 4H) holds x_t W_ihᵀ + b_ih + b_hh for every step. Returns (hs, cs, acts): the hidden
    and cell states h_0..h_T, c_0..c_T and the gate activations (i, f, g, o) of each step.
    """
    n = np.shape(h0)[-1]
    hs, cs, acts = [h0], [c0], []
    wt = w_hh.T
    for t in range(np.shape(xg)[0]):
        a = xg[t] + hs[-1] @ wt
        ai, af, ag, ao = _split4(a, n)
        i, f, g, o = _sig(ai), _sig(af), np.tanh(ag), _sig(ao)
        c = f * cs[-1] + i * g
        hs.append(o * np.tanh(c))
        cs.append(c)
        acts.append((i, f, g, o))
    return hs, cs, acts


def _stack(xs):
    return xs if isinstance(xs, np.ndarray) else np.stack(xs)


def _forward_arrays(xg, w_hh, h0, c0):
    """The forward on arrays, in place: (out, residual) with residual[t] = [h_t, c_t, i, f, g, o of
    step t+1, tanh c_t] (T+1, B, 7H); the gates of the last row stay unused."""
    t, b, n4 = xg.shape
    n = n4 // 4
    dt = np.result_type(xg, w_hh, h0, c0)
    res = np.zeros((t + 1, b, 7 * n), dtype=dt)
    res[0, :, :n], res[0, :, n:2 * n] = h0, c0
    res[0, :, 6 * n:] = np.tanh(c0)
    # σ(x) = 1/(1 + e^−x) over all four gates at once, the g columns at 2x: tanh(x) = 2σ(2x) − 1
    # (NumPy's exp is vectorised where its tanh is not); e^−x may overflow to inf: σ = 0, exact
    scale = np.full(4 * n, -1.0, dtype=dt)
    scale[2 * n:3 * n] = -2.0
    wt = w_hh.T.astype(dt)
    tmp = np.empty((b, n), dtype=dt)
    for k in range(t):
        row, nxt = res[k], res[k + 1]
        a = nxt[:, 2 * n:6 * n]   # this step's gates live in row k + 1's gate slots until shifted
        np.matmul(row[:, :n], wt, out=a)
        a += xg[k]
        a *= scale
        with np.errstate(over="ignore"):
            np.exp(a, out=a)
        a += 1.0
        np.reciprocal(a, out=a)
        a[:, 2 * n:3 * n] *= 2.0
        a[:, 2 * n:3 * n] -= 1.0
        i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        c = nxt[:, n:2 * n]
        np.multiply(f, row[:, n:2 * n], out=c)
        np.multiply(i, g, out=tmp)
        c += tmp
        np.tanh(c, out=nxt[:, 6 * n:])
        np.multiply(o, nxt[:, 6 * n:], out=nxt[:, :n])
    # store each step's gates with the state it started from: row k holds the gates of step k + 1
    res[:t, :, 2 * n:6 * n] = res[1:, :, 2 * n:6 * n]
    res[t, :, 2 * n:6 * n] = 0
    out = np.empty((t + 1, b, n), dtype=dt)
    out[:t] = res[1:, :, :n]
    out[t] = res[t, :, n:2 * n]
    return out, res


def _bptt_arrays(g, res, needs, xg, w_hh):
    """Back-propagation through time on arrays, the per-step work cut to a few calls: the factors
    that do not depend on the recurrence are computed for all steps at once first."""
    t1, b, n7 = res.shape
    t, n = t1 - 1, n7 // 7
    dt = res.dtype
    gates = res[:t, :, 2 * n:6 * n].reshape(t, b, 4, n)
    i, f, gg, o = gates[:, :, 0], gates[:, :, 1], gates[:, :, 2], gates[:, :, 3]
    c_prev, tc = res[:t, :, n:2 * n], res[1:, :, 6 * n:]
    # da_t = [dc·g·i(1−i), dc·c_{t−1}·f(1−f), dc·i(1−g²), dh·tanh c·o(1−o)];  dc += dh·o(1−tanh²c)
    # the factors go into da itself, which the loop then scales by dc and dh in place
    da = np.empty((t, b, 4, n), dtype=dt)
    np.multiply(gg, i * (1 - i), out=da[:, :, 0])
    np.multiply(c_prev, f * (1 - f), out=da[:, :, 1])
    np.multiply(i, 1 - gg * gg, out=da[:, :, 2])
    np.multiply(tc, o * (1 - o), out=da[:, :, 3])
    kc = o * (1 - tc * tc)
    dh = np.zeros((b, n), dtype=dt)
    dc = np.array(g[t], dtype=dt)
    tmp = np.empty((b, n), dtype=dt)
    w = np.asarray(w_hh, dtype=dt)
    for s in range(t - 1, -1, -1):
        dh += g[s]
        np.multiply(dh, kc[s], out=tmp)
        dc += tmp
        da[s, :, :3] *= dc[:, None, :]
        da[s, :, 3] *= dh
        np.matmul(da[s].reshape(b, 4 * n), w, out=dh)
        dc *= f[s]
    dxg = da.reshape(t, b, 4 * n)
    gw = dxg.reshape(-1, 4 * n).T @ res[:t, :, :n].reshape(-1, n) if needs[1] else None
    return (dxg if needs[0] else None, gw, dh if needs[2] else None, dc if needs[3] else None)


@register
class LSTMLayer(Primitive):
    """One LSTM layer over a sequence: out = [h_1, ..., h_T, c_T] stacked, shape (T+1, B, H).

    Inputs: xg (T, B, 4H) the input projections x_t W_ihᵀ + b (all steps at once, one matmul
    outside), w_hh (4H, H), h0 and c0 (B, H). The last row of the output is the final cell state,
    so one output carries everything the layer returns. The backward is back-propagation through
    time: at each step dc = dc_next + dh·o·(1 − tanh²c), the gate pre-activation gradients da_t,
    dh_prev = da_t W_hh; then dxg = da, dW_hh = Σ_t da_tᵀ h_{t−1}, dh0 and dc0 from the first step.
    """
    name = "lstm_layer"
    residual = True
    # NOTE: no flat_vjp strings for new primitives: flat code will be derived from vjp (refactor)
    flat_reason = "a loop over time steps; flat export waits for flat code derived from the vjp"
    samples = (Sample((3, 2, 8), (8, 2), (2, 2), (2, 2)), Sample((1, 1, 4), (4, 1), (1, 1), (1, 1)),
               Sample((4, 3, 12), (12, 3), (3, 3), (3, 3)))

    def forward(self, xg, w_hh, h0, c0):
        t, b, n4 = np.shape(xg)
        n = np.shape(w_hh)[1]
        if n4 != 4 * n or np.shape(w_hh) != (4 * n, n) or np.shape(h0) != (b, n) \
                or np.shape(c0) != (b, n):
            raise ValueError(f"lstm_layer: shapes xg {np.shape(xg)}, w_hh {np.shape(w_hh)}, h0 "
                             f"{np.shape(h0)}, c0 {np.shape(c0)} do not fit: expected (T, B, 4H), "
                             f"(4H, H), (B, H), (B, H)")
        return _forward_arrays(np.asarray(xg), np.asarray(w_hh), np.asarray(h0), np.asarray(c0))

    def vjp(self, g, ans, needs, xg, w_hh, h0, c0):
        if ans is not None and isinstance(g, np.ndarray):
            return _bptt_arrays(g, ans, needs, xg, w_hh)
        hs, cs, acts = lstm_scan(xg, w_hh, h0, c0)   # recorded backward: on Tensors
        steps = len(acts)
        dh = h0 * 0.0
        dc = g[steps]
        das = [None] * steps
        for t in range(steps - 1, -1, -1):
            i, f, gg, o = acts[t]
            dh = g[t] + dh
            tc = np.tanh(cs[t + 1])
            dc = dc + dh * o * (1.0 - tc * tc)
            da = np.concatenate([dc * gg * i * (1.0 - i), dc * cs[t] * f * (1.0 - f),
                                 dc * i * (1.0 - gg * gg), dh * tc * o * (1.0 - o)], axis=1)
            das[t] = da
            dc = dc * f
            dh = da @ w_hh
        dxg = _stack(das) if steps else xg * 0.0
        gw = None
        if needs[1] and steps:
            n4, n = np.shape(w_hh)
            gw = dxg.reshape(-1, n4).T @ _stack(hs[:-1]).reshape(-1, n)
        elif needs[1]:
            gw = w_hh * 0.0
        return (dxg if needs[0] else None, gw, dh if needs[2] else None,
                dc if needs[3] else None)

    def jvp(self, tangents, ans, xg, w_hh, h0, c0):
        hs, cs, acts = lstm_scan(xg, w_hh, h0, c0)   # jvp gets no residual
        txg, tw, th, tc_ = [(x * 0.0 if t is None else t) for t, x in zip(tangents, (xg, w_hh, h0, c0))]
        n = np.shape(w_hh)[1]
        outs = []
        for t in range(len(acts)):
            i, f, gg, o = acts[t]
            da = txg[t] + th @ w_hh.T + hs[t] @ tw.T
            dai, daf, dag, dao = _split4(da, n)
            di, df, dg, do = dai * i * (1.0 - i), daf * f * (1.0 - f), dag * (1.0 - gg * gg), \
                dao * o * (1.0 - o)
            tc_ = df * cs[t] + f * tc_ + di * gg + i * dg
            tanc = np.tanh(cs[t + 1])
            th = do * tanc + o * (1.0 - tanc * tanc) * tc_
            outs.append(th)
        outs.append(tc_)
        return _stack(outs)


@register
class Embedding(Primitive):
    """Z = W[indices] (a lookup of rows).   dL/dW = dL/dZ added into the rows it came from (index-add).

    nn.Embedding's padding_idx (a row that gets no gradient) is handled by the module, not here.
    """
    name = "embedding"
    flat_reason = "new primitive; flat export waits for flat code derived from the vjp"
    linear = True
    saves_inputs = False
    samples = (Sample((6, 3), indices=np.array([[0, 2, 2], [5, 1, 0]])),
               Sample((5, 2), indices=np.array([1, 3, 1, 4])), Sample((4, 3), indices=np.array(2)))

    def forward(self, w, indices):
        try:
            return w[indices]
        except IndexError:
            raise IndexError(f"embedding: index out of range: indices must be in [0, "
                             f"{np.shape(w)[0]}) for weight shape {np.shape(w)}, got values in "
                             f"[{np.min(indices)}, {np.max(indices)}]") from None

    def vjp(self, g, ans, needs, w, indices):
        return (ScatterAdd(g, shape=w.shape, index=indices),)

    def jvp(self, tangents, ans, w, indices):
        return GetItem(tangents[0], index=indices)
