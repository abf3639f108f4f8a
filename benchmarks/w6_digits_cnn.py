"""W6: one training step of the digits CNN (batch 64, 1×8×8 → conv3×3 16 → ReLU → conv3×3 32 → ReLU
→ max-pool 2 → fc 10, softmax CE, SGD), the model `python -m chainrule train digits --model cnn` trains.

Also home of the hand-written im2col NumPy CNN that W6 and W7 use as their reference.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .common import compiled, softmax_ce_head, torch_threads, train_step

KEY = "W6"
TITLE = "digits CNN 1×8×8 → conv3×3 16 → ReLU → conv3×3 32 → ReLU → max-pool 2 → fc 10, batch 64"
PEER = 0.39      # PyTorch eager / NumPy, measured 2026-12-01 (the issue gives a ratio to torch, not NumPy)
TARGET = 0.60    # = 1.5 × PEER: the 'chainrule ≤ 1.5× PyTorch eager', as a ratio to NumPy
RTOL = 1e-4
LR = 0.05


def cnn_setup(seed: int, n: int, cin: int, side: int, c1: int, c2: int, classes: int = 10) -> dict:
    """Random images X (n, cin, side, side), labels, and PyTorch-style init of two 3×3 convs and the fc."""
    rng = np.random.default_rng(seed)

    def uni(bound, *shape):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)
    fc_in = c2 * (side // 2) ** 2
    return {"X": rng.random((n, cin, side, side), dtype=np.float32),
            "y": rng.integers(0, classes, size=n),
            "w1": uni(1 / np.sqrt(cin * 9), c1, cin, 3, 3), "b1": uni(1 / np.sqrt(cin * 9), c1),
            "w2": uni(1 / np.sqrt(c1 * 9), c2, c1, 3, 3), "b2": uni(1 / np.sqrt(c1 * 9), c2),
            "wf": uni(1 / np.sqrt(fc_in), classes, fc_in), "bf": uni(1 / np.sqrt(fc_in), classes)}


def setup(quick: bool = False, seed: int = 0) -> dict:
    return cnn_setup(seed, 2, 1, 4, 2, 3) if quick else cnn_setup(seed, 64, 1, 8, 16, 32)


# ---------------------------------------------------------------- hand-written NumPy reference

def _im2col(x):
    """(N, C, H, W) -> columns (N, C·9, H·W) of the 3×3 windows with zero padding 1 (stride 1)."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2, w + 2), x.dtype)
    xp[:, :, 1:-1, 1:-1] = x
    s = xp.strides
    return as_strided(xp, (n, c, 3, 3, h, w), (s[0], s[1], s[2], s[3], s[2], s[3])).reshape(n, c * 9, h * w)


def _col2im(cols, shape):
    """Adjoint of _im2col: add the columns back into an (N, C, H, W) array (9 strided adds)."""
    n, c, h, w = shape
    cols = cols.reshape(n, c, 3, 3, h, w)
    xp = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return xp[:, :, 1:-1, 1:-1]


def numpy_cnn_step(s: dict, lr: float):
    """conv → ReLU → conv → ReLU → max-pool 2 → fc → softmax CE, forward and backward by hand
    (im2col + matmul, the course's assignment style), SGD in place; step.params lists the arrays."""
    X = s["X"]
    w1, b1, w2, b2 = (s[k].copy() for k in ("w1", "b1", "w2", "b2"))
    wf, bf = s["wf"].copy(), s["bf"].copy()
    head = softmax_ce_head(s["y"])
    lr = s.get("lr", lr)
    n, _, h, w = X.shape
    c1, c2 = w1.shape[0], w2.shape[0]

    def step():
        col1 = _im2col(X)
        a1 = np.matmul(w1.reshape(c1, -1), col1) + b1[:, None]          # (N, C1, HW)
        r1 = np.maximum(a1, 0)
        col2 = _im2col(r1.reshape(n, c1, h, w))
        a2 = np.matmul(w2.reshape(c2, -1), col2) + b2[:, None]          # (N, C2, HW)
        r2 = np.maximum(a2, 0)
        win = r2.reshape(n, c2, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
            n, c2, h // 2, w // 2, 4)
        arg = win.argmax(axis=-1)                                        # first max, as PyTorch
        pooled = np.take_along_axis(win, arg[..., None], -1)[..., 0]
        flat = pooled.reshape(n, -1)
        loss, d = head(flat @ wf.T + bf)
        dwf, dbf = d.T @ flat, d.sum(axis=0)
        dflat = d @ wf
        dwin = np.zeros(win.shape, X.dtype)
        np.put_along_axis(dwin, arg[..., None], dflat.reshape(pooled.shape)[..., None], -1)
        da2 = dwin.reshape(n, c2, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c2, h * w)
        da2 *= a2 > 0
        dw2 = np.matmul(da2, col2.transpose(0, 2, 1)).sum(axis=0).reshape(w2.shape)
        db2 = da2.sum(axis=(0, 2))
        dr1 = _col2im(np.matmul(w2.reshape(c2, -1).T, da2), (n, c1, h, w)).reshape(n, c1, h * w)
        da1 = dr1 * (a1 > 0)
        dw1 = np.matmul(da1, col1.transpose(0, 2, 1)).sum(axis=0).reshape(w1.shape)
        db1 = da1.sum(axis=(0, 2))
        for p, g in ((w1, dw1), (b1, db1), (w2, dw2), (b2, db2), (wf, dwf), (bf, dbf)):
            p -= lr * g
        return float(loss)
    step.params = [w1, b1, w2, b2, wf, bf]
    return step


# ---------------------------------------------------------------- chainrule and torch

def cnn_model(nn, s: dict):
    """The same Sequential for cr.nn and torch.nn, loaded with the setup's weights."""
    c1, cin = s["w1"].shape[:2]
    c2 = s["w2"].shape[0]
    model = nn.Sequential(nn.Conv2d(cin, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(*s["wf"].shape[::-1]))
    for layer, (w, b) in zip((model[0], model[2], model[6]), (("w1", "b1"), ("w2", "b2"), ("wf", "bf"))):
        if type(layer.weight).__module__.startswith("torch"):
            import torch
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(s[w].copy()))
                layer.bias.copy_(torch.from_numpy(s[b].copy()))
        else:
            layer.weight.data[...] = s[w]
            layer.bias.data[...] = s[b]
    return model


def make_numpy(s: dict):
    return numpy_cnn_step(s, LR)


def make_chainrule(s: dict):
    import chainrule as cr
    from chainrule.ops.conv import scratch
    scratch.clear()   # as in a fresh process: the memory pass must see the scratch arrays allocated
    model = cnn_model(cr.nn, s)
    opt = cr.optim.SGD(model.parameters(), lr=s.get("lr", LR))
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])
    return train_step(lambda: cr.nn.functional.cross_entropy(model(X), y), opt)


def make_torch(s: dict):
    torch = torch_threads()
    model = cnn_model(torch.nn, s)
    opt = torch.optim.SGD(model.parameters(), lr=s.get("lr", LR))
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())
    return train_step(lambda: torch.nn.functional.cross_entropy(model(X), y), opt)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule), "torch": make_torch}
