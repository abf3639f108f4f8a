"""W4: micrograd's demo, MLP 2→16→16→1 ReLU on 100 moons points, SVM hinge loss + 1e-4·Σp², SGD."""
from __future__ import annotations

import numpy as np

from .common import (compiled, jax_mlp_forward, jax_train_step, mlp, mlp_init, numpy_mlp_step,
                     torch_threads,
                     train_step)

KEY = "W4"
TITLE = "micrograd demo 2→16→16→1 on 100 moons points, hinge + L2"
PEER = 3.1
TARGET = 1.5
RTOL = 1e-4
LR = 0.05
ALPHA = 1e-4


def moons(n: int, noise: float, rng: np.random.Generator):
    """Two interleaving half circles (like sklearn's make_moons), labels −1 / +1, float32."""
    a = n // 2
    t1 = np.linspace(0, np.pi, a)
    t2 = np.linspace(0, np.pi, n - a)
    X = np.concatenate([np.stack([np.cos(t1), np.sin(t1)], 1),
                        np.stack([1 - np.cos(t2), 0.5 - np.sin(t2)], 1)])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([-np.ones(a), np.ones(n - a)])
    return X.astype(np.float32), y.astype(np.float32)


def setup(quick: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, sizes = (10, (2, 4, 4, 1)) if quick else (100, (2, 16, 16, 1))
    X, y = moons(n, 0.1, rng)
    return {"X": X, "y": y[:, None].copy(), "layers": mlp_init(rng, sizes), "sizes": sizes}


def make_numpy(s: dict):
    """Flat forward and backward: hinge max(0, 1 − y·score) averaged, plus ALPHA·Σ p²."""
    y, n = s["y"], len(s["y"])

    def hinge(scores):
        margins = 1 - y * scores
        return np.maximum(0, margins).mean(), -y * (margins > 0) / n
    return numpy_mlp_step(s, hinge, LR, alpha=ALPHA)


def make_chainrule(s: dict, fused_l2: bool = True):
    """As a user writes it with cr.nn; the L2 term is F.l2_penalty (one node), as the docs advise.

    fused_l2=False writes the L2 term as micrograd's demo does, a Python sum over the parameters
    (two nodes per parameter), for comparison.
    """
    import chainrule as cr
    F = cr.nn.functional
    model = mlp(cr.nn, s)          # Linear(2, 16), ReLU(), Linear(16, 16), ReLU(), Linear(16, 1)
    params = list(model.parameters())
    opt = cr.optim.SGD(params, lr=LR)
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])

    def loss():
        data_loss = F.relu(1 - y * model(X)).mean()
        if fused_l2:
            return data_loss + ALPHA * F.l2_penalty(params)
        return data_loss + ALPHA * sum((p * p).sum() for p in params)
    return train_step(loss, opt)


def make_chainrule_python_sum(s: dict):
    return make_chainrule(s, fused_l2=False)


def make_torch(s: dict):
    torch = torch_threads()
    model = mlp(torch.nn, s)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())

    def loss():   # torch has no fused L2 penalty: the sum over parameters, as the demo writes it
        return torch.relu(1 - y * model(X)).mean() + ALPHA * sum((p * p).sum() for p in params)
    return train_step(loss, opt)


def make_jax(s: dict):
    import jax

    def loss_fn(params, X, y):
        data_loss = jax.nn.relu(1 - y * jax_mlp_forward(params, X)).mean()
        reg = sum((p * p).sum() for p in jax.tree_util.tree_leaves(params))
        return data_loss + ALPHA * reg

    params = [(w.copy(), b.copy()) for w, b in s["layers"]]
    return jax_train_step(loss_fn, params, LR, s["X"], s["y"])


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule),
         "chainrule-python-sum-L2": make_chainrule_python_sum, "torch": make_torch, "jax": make_jax}
