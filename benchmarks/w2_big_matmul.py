"""W2: one big matmul, x[64×4096]·W[4096×4096], loss = Σ (xW)², SGD on W (x needs no grad)."""
from __future__ import annotations

import numpy as np

from .common import compiled, jax_train_step, torch_threads, train_step

KEY = "W2"
TITLE = "x[64×4096]·W[4096×4096], loss = Σ(xW)², W requires grad"
PEER = 1.41
TARGET = 1.00
RTOL = 1e-3    # float32 sums of 262k squares in different orders (pairwise, BLAS dot, torch)
LR = 1e-6      # small enough that xW does not shrink to denormals over a whole benchmark run


def setup(quick: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, d = (8, 64) if quick else (64, 4096)
    # quick: a larger lr, so one step changes the loss by ~3% and a wrong gradient shows in RTOL
    return {"x": rng.standard_normal((n, d), dtype=np.float32),
            "W": (rng.standard_normal((d, d), dtype=np.float32) / np.float32(np.sqrt(d))),
            "lr": 1e-4 if quick else LR}


def make_numpy(s: dict):
    """Flat reference: every line allocates its result, as lecture code does."""
    x, W = s["x"], s["W"].copy()
    lr = s.get("lr", LR)

    def step():
        y = x @ W
        loss = (y * y).sum()
        dy = 2 * y
        dW = x.T @ dy
        W[...] -= lr * dW
        return float(loss)
    step.params = [W]   # for tests: updated in place
    return step


def make_numpy_inplace(s: dict):
    """Buffer-reusing reference: y and dW live in buffers kept across steps, no temporaries."""
    x, W = s["x"], s["W"].copy()
    lr = s.get("lr", LR)
    buf = {}

    def step():
        if not buf:   # allocated on the first step so the memory pass counts them
            buf["y"] = np.empty((x.shape[0], W.shape[1]), W.dtype)
            buf["dW"] = np.empty_like(W)
        y, dW = buf["y"], buf["dW"]
        np.matmul(x, W, out=y)
        flat = y.reshape(-1)
        loss = np.dot(flat, flat)
        y *= -2 * lr                      # y now holds -lr·dL/dy
        np.matmul(x.T, y, out=dW)         # -lr·dL/dW
        W[...] += dW
        return float(loss)
    step.params = [W]   # for tests: updated in place
    return step


def make_chainrule(s: dict):
    import chainrule as cr
    x = cr.tensor(s["x"])
    W = cr.tensor(s["W"].copy(), requires_grad=True)
    opt = cr.optim.SGD([W], lr=s.get("lr", LR))
    return train_step(lambda: ((x @ W) ** 2).sum(), opt)


def make_torch(s: dict):
    torch = torch_threads()
    x = torch.from_numpy(s["x"].copy())
    W = torch.from_numpy(s["W"].copy()).requires_grad_()
    opt = torch.optim.SGD([W], lr=s.get("lr", LR))
    return train_step(lambda: ((x @ W) ** 2).sum(), opt)


def make_jax(s: dict):
    def loss_fn(W, x):
        return ((x @ W) ** 2).sum()
    return jax_train_step(loss_fn, s["W"].copy(), s.get("lr", LR), s["x"])


IMPLS = {"numpy": make_numpy, "numpy-inplace": make_numpy_inplace, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule),
         "torch": make_torch, "jax": make_jax}
