"""W2's step (x[64×4096]·W[4096×4096], loss Σ(xW)²) with each zero_grad mode, CPU ms per step.

Run: `.venv/bin/python -m benchmarks.eager_grad_buffers [--repeat 9]`

zero_grad(set_to_none=True) (the default, as PyTorch's) lets the next backward write dL/dW into
the freed 64 MB `.grad` array when nothing else references it; "held" keeps the previous `.grad`
alive, as a user holding it would, so that backward must allocate a fresh array (what every step
did before). set_to_none=False zero-fills `.grad` and adds the fresh gradient into it.
"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def make_step(set_to_none: bool, held: bool):
    import chainrule as cr
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((64, 4096), dtype=np.float32))
    W = cr.tensor(rng.standard_normal((4096, 4096), dtype=np.float32) / 64, requires_grad=True)
    opt = cr.optim.SGD([W], lr=1e-6)
    kept = []

    def step():
        loss = ((x @ W) ** 2).sum()
        opt.zero_grad(set_to_none=set_to_none)
        loss.backward()
        opt.step()
        if held:
            kept[:] = [W.grad]
        return loss.item()
    step()
    return step


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=9, help="interleaved rounds (best is kept)")
    args = p.parse_args(argv)
    steps = {(stn, held): make_step(stn, held) for stn in (True, False) for held in (False, True)}
    out = {k: float("inf") for k in steps}
    for _ in range(args.repeat):   # interleaved: load on a shared machine hits every row alike
        for k, step in steps.items():
            t0 = time.process_time()
            step()
            out[k] = min(out[k], (time.process_time() - t0) * 1e3)
    print(f"W2 step, CPU ms (best of {args.repeat} interleaved rounds)")
    for (stn, held), ms in out.items():
        print(f"  zero_grad(set_to_none={stn!s:5}) previous .grad {'held' if held else 'free'}: "
              f"{ms:7.1f}")
    return out


if __name__ == "__main__":
    main()
