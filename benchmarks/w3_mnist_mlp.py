"""W3: MNIST-size MLP, batch 128, 784→512→512→10 ReLU, softmax cross-entropy, SGD (random data)."""
from __future__ import annotations

import numpy as np

from .common import jax_mlp_step, load_linears, mlp_init, nn_api, torch_threads

KEY = "W3"
TITLE = "MNIST MLP 784→512→512→10, batch 128, ReLU, softmax CE"
PEER = 1.27
TARGET = 1.05
RTOL = 1e-4
LR = 0.1


def setup(quick: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n, sizes = (8, (32, 16, 16, 10)) if quick else (128, (784, 512, 512, 10))
    return {"X": rng.random((n, sizes[0]), dtype=np.float32),
            "y": rng.integers(0, sizes[-1], size=n),
            "layers": mlp_init(rng, sizes), "sizes": sizes}


def make_numpy(s: dict):
    """The lecture's flat forward and backward, weights as in×out."""
    X, y = s["X"], s["y"]
    (W1, b1), (W2, b2), (W3, b3) = [(w.T.copy(), b.copy()) for w, b in s["layers"]]
    N = X.shape[0]
    rows = np.arange(N)
    lr = s.get("lr", LR)

    def step():
        nonlocal W1, b1, W2, b2, W3, b3   # updated in place by -=
        h1 = np.maximum(0, X @ W1 + b1)
        h2 = np.maximum(0, h1 @ W2 + b2)
        scores = h2 @ W3 + b3
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[rows, y]).mean()
        dscores = probs
        dscores[rows, y] -= 1
        dscores /= N
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
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        W3 -= lr * dW3
        b3 -= lr * db3
        return float(loss)
    step.params = [W1, b1, W2, b2, W3, b3]   # for tests: updated in place
    return step


def make_chainrule(s: dict):
    import chainrule as cr
    nn = nn_api()
    i, h1, h2, o = s["sizes"]
    model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, o))
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
    nn = torch.nn
    i, h1, h2, o = s["sizes"]
    model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, o))
    load_linears(model, s["layers"])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())

    def step():
        loss = nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def make_jax(s: dict):
    return jax_mlp_step(s, LR)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule, "torch": make_torch, "jax": make_jax}
