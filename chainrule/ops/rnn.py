"""Fused recurrent primitives: a whole LSTM or GRU layer (one direction) as one node; the embedding lookup.

An LSTM written as single ops costs ~15 nodes per time step; as one primitive the forward is a NumPy
loop over time and the backward is back-propagation through time in one rule (what a hand-written
NumPy LSTM does), so a 50-step layer is one node instead of 750.
"""
from __future__ import annotations

import numpy as np

from .base import Primitive, Sample, register
from .shape import GetItem, IndexSlot, ScatterAdd


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
    res = np.empty((t + 1, b, 7 * n), dtype=dt)   # every slot is written below
    res[0, :, :n], res[0, :, n:2 * n] = h0, c0
    res[t, :, 2 * n:6 * n] = 0
    res[0, :, 6 * n:] = np.tanh(c0)
    # σ(x) = 1/(1 + e^−x) over all four gates at once, the g columns at 2x: tanh(x) = 2σ(2x) − 1
    # (NumPy's exp is vectorised where its tanh is not); e^−x may overflow to inf: σ = 0, exact
    scale = np.full(4 * n, -1.0, dtype=dt)
    scale[2 * n:3 * n] = -2.0
    wt = w_hh.T.astype(dt)
    tmp = np.empty((b, n), dtype=dt)
    with np.errstate(over="ignore"):
        for k in range(t):
            row, nxt = res[k], res[k + 1]
            a = row[:, 2 * n:6 * n]   # step k + 1's gates, next to the state they start from
            np.matmul(row[:, :n], wt, out=a)
            a += xg[k]
            a *= scale
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
    # the factors go into da itself, which the loop then scales by dc and dh in place; one
    # sequence-sized work array, and o(1 − tanh²c) overwrites the tanh c slot of the residual
    # (the engine hands a rule its own copy of the residual when the graph is retained)
    da = np.empty((t, b, 4, n), dtype=dt)
    w1 = np.empty((t, b, n), dtype=dt)
    for out, a, x in ((da[:, :, 0], gg, i), (da[:, :, 1], c_prev, f), (da[:, :, 3], tc, o)):
        np.subtract(1, x, out=w1)      # x(1 − x): the derivative of a sigmoid gate
        w1 *= x
        np.multiply(a, w1, out=out)
    np.multiply(gg, gg, out=w1)
    np.subtract(1, w1, out=w1)
    np.multiply(i, w1, out=da[:, :, 2])
    kc = tc
    kc *= kc
    np.subtract(1, kc, out=kc)
    kc *= o
    del w1
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


def gru_scan(xg, w_hh, b_hh, h0):
    """The GRU recurrence on arrays or Tensors (gate order r, z, n as PyTorch): h_0..h_T and per step
    (r, z, n, hn) with hn = h W_hnᵀ + b_hn, the part r scales."""
    n = np.shape(h0)[-1]
    hs, acts = [h0], []
    wt = w_hh.T
    for t in range(np.shape(xg)[0]):
        hg = hs[-1] @ wt + b_hh
        x = xg[t]
        r = _sig(x[:, :n] + hg[:, :n])
        z = _sig(x[:, n:2 * n] + hg[:, n:2 * n])
        hn = hg[:, 2 * n:]
        new = np.tanh(x[:, 2 * n:] + r * hn)
        hs.append(new + z * (hs[-1] - new))
        acts.append((r, z, new, hn))
    return hs, acts


def _gru_factors(h_prev, r, z, new, hn):
    """dL/d(pre-activations) per unit of dL/dh': [r, z, hn-part, n] (works on arrays and Tensors)."""
    kn = (1.0 - z) * (1.0 - new * new)
    return kn * hn * r * (1.0 - r), (h_prev - new) * z * (1.0 - z), kn * r, kn


def _gru_forward_arrays(xg, w_hh, b_hh, h0):
    """(out (T, B, H), residual (T+1, B, 5H)): residual[t] = [h_t, r, z, n, hn of step t+1]."""
    t, b, n3 = xg.shape
    n = n3 // 3
    dt = np.result_type(xg, w_hh, b_hh, h0)
    res = np.zeros((t + 1, b, 5 * n), dtype=dt)
    res[0, :, :n] = h0
    wt = w_hh.T.astype(dt)
    hg = np.empty((b, 3 * n), dtype=dt)
    tmp = np.empty((b, n), dtype=dt)
    for k in range(t):
        row, nxt = res[k], res[k + 1]
        h = row[:, :n]
        np.matmul(h, wt, out=hg)
        hg += b_hh
        rz = row[:, n:3 * n]   # step k + 1's gates sit in row k, next to the h_k they start from
        np.add(xg[k, :, :2 * n], hg[:, :2 * n], out=rz)
        rz *= -1.0
        with np.errstate(over="ignore"):
            np.exp(rz, out=rz)   # σ(x) = 1/(1 + e^−x); e^−x = inf gives σ = 0, exact
        rz += 1.0
        np.reciprocal(rz, out=rz)
        r, z = rz[:, :n], rz[:, n:]
        new = row[:, 3 * n:4 * n]
        row[:, 4 * n:] = hg[:, 2 * n:]
        np.multiply(r, hg[:, 2 * n:], out=new)
        new += xg[k, :, 2 * n:]
        np.tanh(new, out=new)
        np.subtract(h, new, out=tmp)
        tmp *= z
        np.add(new, tmp, out=nxt[:, :n])
    out = np.array(res[1:, :, :n])
    return out, res


def _gru_bptt_arrays(g, res, needs, w_hh):
    t1, b, n5 = res.shape
    t, n = t1 - 1, n5 // 5
    dt = res.dtype
    hp, r, z, new, hn = (res[:t, :, k * n:(k + 1) * n] for k in range(5))
    kr, kz, khn, kn = _gru_factors(hp, r, z, new, hn)
    k3 = np.stack([kr, kz, khn], axis=2)            # (T, B, 3, H)
    dhg = np.empty((t, b, 3, n), dtype=dt)          # gradients of h W_hhᵀ + b_hh per step
    dhs = np.empty((t, b, n), dtype=dt)
    dh = np.zeros((b, n), dtype=dt)
    w = np.asarray(w_hh, dtype=dt)
    tmp = np.empty((b, n), dtype=dt)
    for s in range(t - 1, -1, -1):
        np.add(g[s], dh, out=dhs[s])
        np.multiply(dhs[s][:, None, :], k3[s], out=dhg[s])
        np.multiply(dhs[s], z[s], out=tmp)
        np.matmul(dhg[s].reshape(b, 3 * n), w, out=dh)
        dh += tmp
    flat = dhg.reshape(t, b, 3 * n)
    gx = None
    if needs[0]:
        gx = np.empty((t, b, 3 * n), dtype=dt)
        gx[..., :2 * n] = flat[..., :2 * n]
        np.multiply(dhs, kn, out=gx[..., 2 * n:])
    gw = flat.reshape(-1, 3 * n).T @ hp.reshape(-1, n) if needs[1] else None
    return gx, gw, flat if needs[2] else None, dh if needs[3] else None


@register
class GRULayer(Primitive):
    """One GRU layer over a sequence: out = [h_1, ..., h_T], shape (T, B, H).

    Inputs: xg (T, B, 3H) = x W_ihᵀ + b_ih for all steps, w_hh (3H, H), b_hh (3H,) (kept apart:
    r scales h W_hnᵀ + b_hn), h0 (B, H). Per step h' = n + z·(h − n) with
    n = tanh(x_n + r·(h W_hnᵀ + b_hn)). Backward through time: every pre-activation gradient is
    dL/dh' times a factor known after the forward, so only dh is carried step to step.
    """
    name = "gru_layer"
    residual = True
    samples = (Sample((3, 2, 6), (6, 2), (6,), (2, 2)), Sample((1, 1, 3), (3, 1), (3,), (1, 1)),
               Sample((4, 3, 9), (9, 3), (9,), (3, 3)))

    def forward(self, xg, w_hh, b_hh, h0):
        t, b, n3 = np.shape(xg)
        n = np.shape(w_hh)[1]
        if n3 != 3 * n or np.shape(w_hh) != (3 * n, n) or np.shape(b_hh) != (3 * n,) \
                or np.shape(h0) != (b, n):
            raise ValueError(f"gru_layer: shapes xg {np.shape(xg)}, w_hh {np.shape(w_hh)}, b_hh "
                             f"{np.shape(b_hh)}, h0 {np.shape(h0)} do not fit: expected (T, B, 3H), "
                             f"(3H, H), (3H,), (B, H)")
        return _gru_forward_arrays(np.asarray(xg), np.asarray(w_hh), np.asarray(b_hh),
                                   np.asarray(h0))

    def vjp(self, g, ans, needs, xg, w_hh, b_hh, h0):
        if ans is not None and isinstance(g, np.ndarray):
            return _gru_bptt_arrays(g, ans, needs, w_hh)
        hs, acts = gru_scan(xg, w_hh, b_hh, h0)   # recorded backward: on Tensors
        dh = h0 * 0.0
        gxs, ghs = [None] * len(acts), [None] * len(acts)
        for t in range(len(acts) - 1, -1, -1):
            r, z, new, hn = acts[t]
            kr, kz, khn, kn = _gru_factors(hs[t], r, z, new, hn)
            d = g[t] + dh
            dr, dz = d * kr, d * kz
            gxs[t] = np.concatenate([dr, dz, d * kn], axis=1)
            ghs[t] = np.concatenate([dr, dz, d * khn], axis=1)
            dh = d * z + ghs[t] @ w_hh
        gh = np.stack(ghs)
        n3, n = np.shape(w_hh)
        gw = gh.reshape(-1, n3).T @ np.stack(hs[:-1]).reshape(-1, n) if needs[1] else None
        return (np.stack(gxs) if needs[0] else None, gw, gh if needs[2] else None,
                dh if needs[3] else None)

    def jvp(self, tangents, ans, xg, w_hh, b_hh, h0):
        hs, acts = gru_scan(xg, w_hh, b_hh, h0)
        txg, tw, tb, th = [(x * 0.0 if t is None else t)
                           for t, x in zip(tangents, (xg, w_hh, b_hh, h0))]
        n = np.shape(w_hh)[1]
        outs = []
        for t in range(len(acts)):
            r, z, new, hn = acts[t]
            dhg = th @ w_hh.T + hs[t] @ tw.T + tb
            x = txg[t]
            dr = (x[:, :n] + dhg[:, :n]) * r * (1.0 - r)
            dz = (x[:, n:2 * n] + dhg[:, n:2 * n]) * z * (1.0 - z)
            dn = (x[:, 2 * n:] + dr * hn + r * dhg[:, 2 * n:]) * (1.0 - new * new)
            th = dn + dz * (hs[t] - new) + z * (th - dn)
            outs.append(th)
        return np.stack(outs)


@register
class Embedding(Primitive):
    """Z = W[indices] (a lookup of rows).   dL/dW = dL/dZ added into the rows it came from (index-add).

    nn.Embedding's padding_idx (a row that gets no gradient) is handled by the module, not here.
    """
    name = "embedding"
    linear = True
    saves_inputs = False
    samples = (Sample((6, 3), np.array([[0, 2, 2], [5, 1, 0]])),
               Sample((5, 2), np.array([1, 3, 1, 4])), Sample((4, 3), np.array(2)))

    def forward(self, w, indices):   # indices is an input (no gradient): traced programs read it
        try:
            return w[indices]
        except IndexError:
            raise IndexError(f"embedding: index out of range: indices must be in [0, "
                             f"{np.shape(w)[0]}) for weight shape {np.shape(w)}, got values in "
                             f"[{np.min(indices)}, {np.max(indices)}]") from None

    def vjp(self, g, ans, needs, w, indices):
        return ScatterAdd(g, indices, shape=w.shape, index=IndexSlot(1)), None

    def jvp(self, tangents, ans, w, indices):
        return GetItem(tangents[0], indices, index=IndexSlot(1))
