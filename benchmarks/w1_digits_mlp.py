"""W1: digits MLP, batch 64, 64→100→10 ReLU, softmax cross-entropy, SGD (random data of that shape)."""
from __future__ import annotations

import numpy as np

from .common import load_linears, mlp_init, nn_api, torch_threads

KEY = "W1"
TITLE = "digits MLP 64→100→10, batch 64, ReLU, softmax CE"
PEER = 1.77
TARGET = 1.35
RTOL = 1e-4
LR = 0.1


def setup(quick: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, sizes = (8, (64, 16, 10)) if quick else (64, (64, 100, 10))
    return {"X": rng.random((n, sizes[0]), dtype=np.float32),
            "y": rng.integers(0, sizes[-1], size=n),
            "layers": mlp_init(rng, sizes), "sizes": sizes}


def make_numpy(s: dict):
    """The lecture's flat forward and backward, weights as in×out."""
    X, y = s["X"], s["y"]
    (W1, b1), (W2, b2) = [(w.T.copy(), b.copy()) for w, b in s["layers"]]
    N = X.shape[0]
    rows = np.arange(N)
    lr = s.get("lr", LR)

    def step():
        nonlocal W1, b1, W2, b2   # updated in place by -=
        h = np.maximum(0, X @ W1 + b1)
        scores = h @ W2 + b2
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[rows, y]).mean()
        dscores = probs
        dscores[rows, y] -= 1
        dscores /= N
        dW2 = h.T @ dscores
        db2 = dscores.sum(axis=0)
        dh = dscores @ W2.T
        dh[h <= 0] = 0
        dW1 = X.T @ dh
        db1 = dh.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        return float(loss)
    step.params = [W1, b1, W2, b2]   # for tests: updated in place
    return step


def make_chainrule(s: dict):
    import chainrule as cr
    nn = nn_api()
    i, h, o = s["sizes"]
    model = nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))
    load_linears(model, s["layers"])
    opt = nn.SGD(model.parameters(), lr=LR)
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])

    def step():
        loss = nn.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_torch(s: dict):
    torch = torch_threads()
    i, h, o = s["sizes"]
    model = torch.nn.Sequential(torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.Linear(h, o))
    load_linears(model, s["layers"])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())

    def step():
        loss = torch.nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_jax(s: dict):
    from .common import jax_mlp_step
    return jax_mlp_step(s, LR)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule, "torch": make_torch, "jax": make_jax}
