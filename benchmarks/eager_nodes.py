"""The eager engine's own cost per node: record and backward, CPU µs (best of repeats).

Run: `.venv/bin/python -m benchmarks.eager_nodes [--repeat 30]`

Two graphs of 3,000 nodes on 10 floats: a chain of an identity primitive whose forward and rule do
no NumPy work (what is left is the engine: making the Tensor and Node, the heap, the rule call,
freeing), and the W5 chain x ← x + 0.01·tanh(x) (engine plus the ops' own NumPy calls). gc is
frozen after setup and stays on. To compare with another checkout, run it with
PYTHONPATH=<that checkout> and the same interpreter.
"""
from __future__ import annotations

import argparse
import gc
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def _identity_prim():
    from chainrule.ops.base import Primitive, register

    class _Identity(Primitive):
        name = "_eager_nodes_identity"
        saves_inputs = False

        def forward(self, x):
            return x

        def vjp(self, g, ans, needs, x):
            return (g,)
    return register(_Identity)


def _best(build, repeat):
    """(forward µs per node, backward µs per node): build() -> (loss, n_nodes)."""
    fwd = bwd = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        loss, n = build()
        t1 = time.process_time()
        loss.backward(np.ones(loss.shape, loss.dtype))
        t2 = time.process_time()
        fwd, bwd = min(fwd, (t1 - t0) / n), min(bwd, (t2 - t1) / n)
    return fwd * 1e6, bwd * 1e6


def main(argv=None) -> dict:
    import chainrule as cr
    from chainrule import autograd
    from chainrule.ops.base import unregister

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args(argv)
    prim = _identity_prim()
    x = cr.tensor(np.linspace(-1, 1, 10, dtype=np.float32), requires_grad=True)

    def identity_chain():
        y = x
        for _ in range(3000):
            y = autograd.apply(prim, (y,))
        return y, 3000

    def tanh_chain():
        y = x
        for _ in range(1000):
            y = y + 0.01 * cr.tanh(y)
        return y, 3000

    gc.collect()
    gc.freeze()
    try:
        out = {"identity": _best(identity_chain, args.repeat), "tanh": _best(tanh_chain, args.repeat)}
    finally:
        gc.unfreeze()
        unregister(prim.name)
    print(f"eager engine, CPU µs per node (best of {args.repeat}), chainrule at "
          f"{os.path.dirname(cr.__file__)}")
    for k, (f, b) in out.items():
        what = "identity chain (engine only)" if k == "identity" else "x + 0.01*tanh(x) chain (W5)"
        print(f"  {what:32s} record {f:6.3f}   backward {b:6.3f}")
    return out


if __name__ == "__main__":
    main()
