"""A 1000-way fan-out on 10 floats, eager: one tensor used 1000 times, and 1000 small tensors
stacked; forward + backward, chainrule vs PyTorch eager (when installed), interleaved rounds.

"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def reuse(lib, x, ways, through_node):
    """Σ_i c_i·h with h = tanh(x) (one node fanning out) or h = x (the leaf itself)."""
    h = lib.tanh(x) if through_node else x
    s = h * 0.0
    for i in range(ways):
        s = s + h * (1.0 + i / ways)
    return s.sum()


def _cases(lib, x, ways):
    def run(through_node):
        def fn():
            x.grad = None
            reuse(lib, x, ways, through_node).backward()
        return fn
    return {"node": run(True), "leaf": run(False)}


def _chainrule(ways):
    import chainrule as cr
    return _cases(cr, cr.tensor(np.linspace(-1, 1, 10, dtype=np.float32), requires_grad=True),
                  ways)


def _torch(ways):
    import torch
    torch.set_num_threads(1)
    x = torch.from_numpy(np.linspace(-1, 1, 10, dtype=np.float32)).requires_grad_()
    return _cases(torch, x, ways)


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
    print(f"{args.ways} uses of one tensor (10 floats), forward + backward, CPU ms per call "
          f"(best of {args.rounds} interleaved rounds)")
    for case in ("node", "leaf"):
        row = "  ".join(f"{lib} {best[(lib, case)]:7.3f}" for lib in impls)
        ratio = ""
        if "torch" in impls:
            ratio = f"  chainrule/torch {best[('chainrule', case)] / best[('torch', case)]:5.2f}"
        print(f"  {case:6s} {row}{ratio}")
    return best


if __name__ == "__main__":
    main()
