"""A 1000-way fan-out on 10 floats, eager: one tensor used 1000 times, and 1000 small tensors
stacked; forward + backward, chainrule vs PyTorch eager (when installed), interleaved rounds.

Run: `.venv/bin/python -m benchmarks.eager_fanout [--rounds 7] [--ways 1000]`
"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def reuse(lib, x, ways):
    """Σ_i (c_i·x) summed: x's node receives `ways` gradients (fan-in)."""
    s = x * 0.0
    for i in range(ways):
        s = s + x * (1.0 + i / ways)
    return s.sum()


def stack(lib, xs):
    """Σ (stack(xs) ** 2): one node with `ways` inputs."""
    return (lib.stack(xs) ** 2).sum()


def _chainrule(ways):
    import chainrule as cr
    base = np.linspace(-1, 1, 10, dtype=np.float32)
    x = cr.tensor(base, requires_grad=True)
    xs = [cr.tensor(base + i, requires_grad=True) for i in range(ways)]
    return {"reuse": lambda: reuse(cr, x, ways).backward(),
            "stack": lambda: stack(cr, xs).backward()}


def _torch(ways):
    import torch
    torch.set_num_threads(1)
    base = np.linspace(-1, 1, 10, dtype=np.float32)
    x = torch.from_numpy(base.copy()).requires_grad_()
    xs = [torch.from_numpy(base + i).requires_grad_() for i in range(ways)]
    return {"reuse": lambda: reuse(torch, x, ways).backward(),
            "stack": lambda: stack(torch, xs).backward()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--ways", type=int, default=1000)
    p.add_argument("--number", type=int, default=20, help="calls per timing")
    args = p.parse_args(argv)
    impls = {"chainrule": _chainrule(args.ways)}
    try:
        impls["torch"] = _torch(args.ways)
    except ImportError:
        pass
    best: dict = {}
    for _ in range(args.rounds):   # interleaved: load on a shared machine hits every row alike
        for lib, cases in impls.items():
            for case, fn in cases.items():
                fn()
                t0 = time.process_time()
                for _ in range(args.number):
                    fn()
                ms = (time.process_time() - t0) / args.number * 1e3
                best[(lib, case)] = min(ms, best.get((lib, case), float("inf")))
    print(f"{args.ways}-way fan-out on 10 floats, forward + backward, CPU ms per call "
          f"(best of {args.rounds} interleaved rounds)")
    for case in ("reuse", "stack"):
        row = "  ".join(f"{lib} {best[(lib, case)]:7.3f}" for lib in impls)
        ratio = ""
        if "torch" in impls:
            ratio = f"  chainrule/torch {best[('chainrule', case)] / best[('torch', case)]:5.2f}"
        print(f"  {case:6s} {row}{ratio}")
    return best


if __name__ == "__main__":
    main()
