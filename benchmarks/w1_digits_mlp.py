"""W1: digits MLP, batch 64, 64→100→10 ReLU, softmax cross-entropy, SGD (random data of that shape)."""
from __future__ import annotations

from .common import (classification_setup, compiled, jax_mlp_step, mlp, numpy_mlp_step,
                     softmax_ce_head,
                     torch_threads, train_step)

KEY = "W1"
TITLE = "digits MLP 64→100→10, batch 64, ReLU, softmax CE"
PEER = 1.77
TARGET = 1.35
RTOL = 1e-4
LR = 0.1


def setup(quick: bool = False, seed: int = 0) -> dict:
    n, sizes = (8, (64, 16, 10)) if quick else (64, (64, 100, 10))
    return classification_setup(seed, n, sizes)


def make_numpy(s: dict):
    """The lecture's flat forward and backward (ReLU MLP + softmax CE, weights in×out)."""
    return numpy_mlp_step(s, softmax_ce_head(s["y"]), LR)


def make_chainrule(s: dict):
    import chainrule as cr
    model = mlp(cr.nn, s)          # W1: Linear(64, 100), ReLU(), Linear(100, 10)
    opt = cr.optim.SGD(model.parameters(), lr=LR)
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])
    return train_step(lambda: cr.nn.functional.cross_entropy(model(X), y), opt)


def make_chainrule_compiled_model(s: dict):
    """cr.compile(model) alone, as torch.compile(model) is used: loss, backward and SGD eager."""
    import chainrule as cr
    model = mlp(cr.nn, s)
    fast = cr.compile(model)       # forward code + backward code split from one trace
    opt = cr.optim.SGD(model.parameters(), lr=LR)
    X, y = cr.tensor(s["X"]), cr.tensor(s["y"])
    return train_step(lambda: cr.nn.functional.cross_entropy(fast(X), y), opt)


def make_torch(s: dict):
    torch = torch_threads()
    model = mlp(torch.nn, s)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, y = torch.from_numpy(s["X"].copy()), torch.from_numpy(s["y"].copy())
    return train_step(lambda: torch.nn.functional.cross_entropy(model(X), y), opt)


def make_jax(s: dict):
    return jax_mlp_step(s, LR)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule),
         "chainrule-compiled-model": make_chainrule_compiled_model, "torch": make_torch, "jax": make_jax}
