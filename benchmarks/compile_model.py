"""`cr.compile(model)` alone (loss, backward and SGD eager) against the eager model, on a few models:
`python -m benchmarks.compile_model [--rounds N]`.

Each round times both for the same number of steps, interleaved; the ratio compiled/eager is
taken per round and the median printed. One BLAS thread.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _cases():
    import chainrule as cr
    nn = cr.nn
    return {
        "W4's MLP 2-16-16-1, 100 points": (lambda: nn.Sequential(
            nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)), (100, 2)),
        "5 x (Linear 64-64, tanh), batch 32": (lambda: nn.Sequential(
            *[m for _ in range(5) for m in (nn.Linear(64, 64), nn.Tanh())]), (32, 64)),
        "encoder layer d=64, 4 heads, 8 x 16": (lambda: nn.TransformerEncoderLayer(
            64, 4, dim_feedforward=128, dropout=0.0, batch_first=True), (8, 16, 64)),
        "LSTM 32->64, 20 steps, batch 16": (lambda: nn.LSTM(32, 64, batch_first=True),
                                            (16, 20, 32)),
    }


def _step(model, fn, x):
    import chainrule as cr
    opt = cr.optim.SGD(model.parameters(), lr=0.01)

    def step():
        out = fn(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = (out ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=100, help="steps per round and implementation")
    args = ap.parse_args(argv)
    import chainrule as cr
    print(f"{'model':38s} {'eager ms':>9s} {'compiled ms':>12s} {'compiled/eager':>15s}")
    for name, (make, shape) in _cases().items():
        x = cr.randn(*shape)
        steps = {}
        for mode in ("eager", "compiled"):
            cr.manual_seed(0)
            m = make()
            steps[mode] = _step(m, cr.compile(m) if mode == "compiled" else m, x)
            for _ in range(3):
                steps[mode]()
        times = {k: [] for k in steps}
        for r in range(args.rounds):
            for mode in (("eager", "compiled") if r % 2 else ("compiled", "eager")):
                t0 = time.process_time()
                for _ in range(args.steps):
                    steps[mode]()
                times[mode].append((time.process_time() - t0) / args.steps * 1e3)
        ratio = statistics.median(c / e for c, e in zip(times["compiled"], times["eager"]))
        print(f"{name:38s} {statistics.median(times['eager']):9.3f} "
              f"{statistics.median(times['compiled']):12.3f} {ratio:14.2f}x")


if __name__ == "__main__":
    main()
