"""W3: MNIST-size MLP, batch 128, 784→512→512→10 ReLU, softmax cross-entropy, SGD (random data).

The model code is W1's (a ReLU MLP built from `sizes`), so W3 differs only in its setup: the
same NumPy reference, chainrule, torch and JAX versions run at MNIST size.
"""
from __future__ import annotations

from .common import classification_setup, compiled
from .w1_digits_mlp import LR, make_chainrule, make_jax, make_numpy, make_torch  # noqa: F401

KEY = "W3"
TITLE = "MNIST MLP 784→512→512→10, batch 128, ReLU, softmax CE"
PEER = 1.27
TARGET = 1.05
RTOL = 1e-4


def setup(quick: bool = False, seed: int = 0) -> dict:
    n, sizes = (8, (32, 16, 16, 10)) if quick else (128, (784, 512, 512, 10))
    return classification_setup(seed, n, sizes)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule), "torch": make_torch, "jax": make_jax}
