"""W7: a CIFAR-shaped conv block, batch 64: 3×32×32 → conv3×3 32 → ReLU → conv3×3 64 → ReLU →
max-pool 2 → fc 10, softmax CE, SGD; one training step. Reference: the hand-written im2col NumPy CNN."""
from __future__ import annotations

from .common import compiled, train_step  # noqa: F401  (same step shape as every workload)
from .w6_digits_cnn import cnn_setup, make_chainrule, make_torch, numpy_cnn_step

KEY = "W7"
TITLE = "CIFAR block 3×32×32 → conv3×3 32 → ReLU → conv3×3 64 → ReLU → max-pool 2 → fc 10, batch 64"
PEER = 0.50      # PyTorch eager / NumPy, measured 2026-12-01 (the issue gives a ratio to torch, not NumPy)
TARGET = 0.75    # = 1.5 × PEER: the 'chainrule ≤ 1.5× PyTorch eager', as a ratio to NumPy
RTOL = 1e-4
LR = 0.01


def setup(quick: bool = False, seed: int = 0) -> dict:
    s = cnn_setup(seed, 2, 3, 4, 2, 3) if quick else cnn_setup(seed, 64, 3, 32, 32, 64)
    s["lr"] = LR
    return s


def make_numpy(s: dict):
    return numpy_cnn_step(s, LR)


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule), "torch": make_torch}
