"""W4: micrograd's demo, MLP 2→16→16→1 ReLU on 100 moons points, SVM hinge loss + 1e-4·Σp², SGD."""
from __future__ import annotations

import numpy as np

from .common import jax_train_step, load_linears, mlp_init, nn_api, torch_threads

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
    """Flat forward and backward: hinge max(0, 1 − y·score) averaged, plus alpha·Σ p²."""
    X, y = s["X"], s["y"]
    params = [(w.T.copy(), b.copy()) for w, b in s["layers"]]
    (W1, b1), (W2, b2), (W3, b3) = params
    N = X.shape[0]
    lr = s.get("lr", LR)

    def step():
        h1 = np.maximum(0, X @ W1 + b1)
        h2 = np.maximum(0, h1 @ W2 + b2)
        scores = h2 @ W3 + b3
        margins = 1 - y * scores
        data_loss = np.maximum(0, margins).mean()
        reg_loss = ALPHA * sum((p * p).sum() for pair in params for p in pair)
        loss = data_loss + reg_loss
        dscores = -y * (margins > 0) / N
        dW3 = h2.T @ dscores
        db3 = dscores.sum(axis=0)
        dh2 = dscores @ W3.T
        dh2[h2 <= 0] = 0
        dW2 = h1.T @ dh2
        db2 = dh2.sum(axis=0)
        dh1 = dh2 @ W2.T
        dh1[h1 <= 0] = 0
        dW1 = X.T @ dh1
        db1 = dh1.sum(axis=0)
        for (W, b), (dW, db) in zip(params, [(dW1, db1), (dW2, db2), (dW3, db3)]):
            W -= lr * (dW + 2 * ALPHA * W)
            b -= lr * (db + 2 * ALPHA * b)
        return float(loss)
    step.params = [p for pair in params for p in pair]   # for tests: updated in place
    return step


def make_chainrule(s: dict, fused_l2: bool = False):
    """As the micrograd demo writes it; fused_l2 uses cr.nn.functional.l2_penalty (one node)."""
    import chainrule as cr
    nn = nn_api()
    l2_penalty = getattr(getattr(getattr(cr, "nn", None), "functional", None), "l2_penalty", None)
    if fused_l2 and l2_penalty is None:
        raise ImportError("cr.nn.functional.l2_penalty", name="chainrule.nn.functional.l2_penalty")
    i, h1, h2, o = s["sizes"]
    model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, o))
    load_linears(model, s["layers"])
    params = list(model.parameters())
    opt = nn.SGD(params, lr=LR)
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])

    def step():
        scores = model(X)
        data_loss = cr.relu(1 - y * scores).mean()
        if fused_l2:
            reg_loss = ALPHA * l2_penalty(params)
        else:
            reg_loss = ALPHA * sum((p * p).sum() for p in params)
        loss = data_loss + reg_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_chainrule_l2(s: dict):
    return make_chainrule(s, fused_l2=True)


def make_torch(s: dict):
    torch = torch_threads()
    nn = torch.nn
    i, h1, h2, o = s["sizes"]
    model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, o))
    load_linears(model, s["layers"])
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())

    def step():
        scores = model(X)
        data_loss = torch.relu(1 - y * scores).mean()
        reg_loss = ALPHA * sum((p * p).sum() for p in params)
        loss = data_loss + reg_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_jax(s: dict):
    import jax

    def loss_fn(params, X, y):
        h = X
        for k, (w, b) in enumerate(params):
            h = h @ w.T + b
            if k < len(params) - 1:
                h = jax.nn.relu(h)
        data_loss = jax.nn.relu(1 - y * h).mean()
        reg = sum((p * p).sum() for p in jax.tree_util.tree_leaves(params))
        return data_loss + ALPHA * reg

    params = [(w.copy(), b.copy()) for w, b in s["layers"]]
    return jax_train_step(loss_fn, params, LR, s["X"], s["y"])


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule, "chainrule-l2_penalty": make_chainrule_l2,
         "torch": make_torch, "jax": make_jax}
