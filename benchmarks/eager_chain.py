"""Per-op cost of a long eager chain x ← x + 0.01·tanh(x) (10 floats) at 1,000 vs 10,000 links.

Run: `.venv/bin/python -m benchmarks.eager_chain [--live 300000] [--rounds 5]`

The process first makes `--live` dicts that stay alive (as a notebook holds data), with the cyclic
garbage collector on and nothing frozen: if recording a graph makes the collector rescan the whole
heap, the 10k chain's per-op cost grows; the issue's target is ≤ 1.2× the 1k chain's. Prints CPU µs per
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


class _GCClock:
    """Time spent inside the cyclic collector (gc.callbacks), per generation."""

    def __init__(self):
        self.t0 = 0.0
        self.total = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]

    def __call__(self, phase, info):
        if phase == "start":
            self.t0 = time.process_time()
        else:
            g = info["generation"]
            self.total[g] += time.process_time() - self.t0
            self.count[g] += 1


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--live", type=int, default=300_000, help="live dicts held meanwhile")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best is kept)")
    p.add_argument("--links", type=int, default=30_000, help="links run per timing")
    args = p.parse_args(argv)
    # a dict holding a list is tracked by the collector ({"i": i} alone would not be)
    held = [{"i": i, "xs": []} for i in range(args.live)]   # noqa: F841  (kept alive on purpose)
    clock = _GCClock()
    gc.callbacks.append(clock)
    steps = {n: step_fn(n) for n in (1000, 10000)}
    best, in_gc, colls = {}, {}, {}
    try:
        for _ in range(args.rounds):   # interleaved, so load on a shared machine hits all alike
            for gc_on in (True, False):
                for links, step in steps.items():
                    (gc.enable if gc_on else gc.disable)()
                    step()
                    n = max(1, args.links // links)
                    clock.total, clock.count = [0.0] * 3, [0] * 3
                    t0 = time.process_time()
                    for _ in range(n):
                        step()
                    per_op = (time.process_time() - t0) / (n * links * 3) * 1e6
                    key = (gc_on, links)
                    if per_op < best.get(key, float("inf")):
                        best[key] = per_op
                        in_gc[key] = sum(clock.total) / (n * links * 3) * 1e6
                        colls[key] = [c / n for c in clock.count]
    finally:
        gc.enable()
        gc.callbacks.remove(clock)
    print(f"eager chain x <- x + 0.01*tanh(x), 10 floats, {args.live} live dicts; us per op "
          f"(fwd+bwd+SGD, 3 ops/link), best of {args.rounds} interleaved rounds")
    for gc_on in (True, False):
        a, b = best[(gc_on, 1000)], best[(gc_on, 10000)]
        print(f"  gc {'on ' if gc_on else 'off'}: 1k links {a:6.2f}   10k links {b:6.2f}   "
              f"10k/1k {b / a:5.2f}")
    for links in (1000, 10000):
        c = colls[(True, links)]
        print(f"  gc on, {links:5d} links: {in_gc[(True, links)]:5.2f} us/op inside the collector; "
              f"collections per step gen0 {c[0]:.1f} gen1 {c[1]:.2f} gen2 {c[2]:.3f}")
    return best


if __name__ == "__main__":
    main()
