"""Per-op cost of a long eager chain x ← x + 0.01·tanh(x) (10 floats) at 1,000 vs 10,000 links.

Run: `.venv/bin/python -m benchmarks.eager_chain [--live 300000] [--repeat 5]`

The process first makes `--live` dicts that stay alive (as a notebook holds data), with the cyclic
garbage collector on and nothing frozen: if recording a graph makes the collector rescan the whole
heap, the 10k chain's per-op cost grows; the issue's target is ≤ 1.2× the 1k chain's. Prints µs per
op (forward + backward + SGD step, 3 ops per link) for each length, gc on and off, and the ratio.
"""
from __future__ import annotations

import argparse
import gc
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def step_fn(links: int):
    import chainrule as cr
    x0 = cr.tensor(np.linspace(-1, 1, 10, dtype=np.float32), requires_grad=True)
    opt = cr.optim.SGD([x0], lr=1e-4)

    def step():
        x = x0
        for _ in range(links):
            x = x + 0.01 * cr.tanh(x)
        loss = (x * x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def per_op_us(links: int, repeat: int, total_links: int = 30000) -> float:
    """Best-of-`repeat` µs per op, each timing running `total_links` links in all."""
    step = step_fn(links)
    step()
    n = max(1, total_links // links)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, (time.perf_counter() - t0) / (n * links * 3))
    return best * 1e6


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--live", type=int, default=300_000, help="live dicts held meanwhile")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    # a dict holding a list is tracked by the collector ({"i": i} alone would not be)
    held = [{"i": i, "xs": []} for i in range(args.live)]   # noqa: F841  (kept alive on purpose)
    out = {}
    for gc_on in (True, False):
        (gc.enable if gc_on else gc.disable)()
        for links in (1000, 10000):
            out[(gc_on, links)] = per_op_us(links, args.repeat)
    gc.enable()
    print(f"eager chain x ← x + 0.01·tanh(x), 10 floats, {args.live} live dicts, "
          f"µs per op (fwd+bwd+SGD, 3 ops/link, best of {args.repeat})")
    for gc_on in (True, False):
        a, b = out[(gc_on, 1000)], out[(gc_on, 10000)]
        print(f"  gc {'on ' if gc_on else 'off'}: 1k links {a:6.2f}   10k links {b:6.2f}   "
              f"10k/1k {b / a:5.2f}")
    return out


if __name__ == "__main__":
    main()
