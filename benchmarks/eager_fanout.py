"""A 1000-way fan-out on 10 floats through stack: `python -m benchmarks.eager_fanout`.

x (10 floats) feeds 1000 small ops y_i = c_i·x; the 1000 results are stacked into a [1000, 10]
tensor, loss = Σ stack², and backward runs to x: one stack node with 1000 inputs, then 1000
gradients flowing into x (fan-in). Rows: hand-written NumPy, chainrule's one-primitive `cr.stack`,
the same model through 1000 `unsqueeze` nodes and one `concatenate` (how `cr.stack` used to be
built), and PyTorch eager when installed; ratios to NumPy in one interleaved run.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from .common import quartiles, time_paired, torch_threads  # noqa: E402

N, WIDTH = 1000, 10


def setup(n=N):
    rng = np.random.default_rng(0)
    return rng.standard_normal(WIDTH).astype(np.float32), [float(c) for c in rng.random(n)]


def make_numpy(x0, cs):
    def step():
        ys = [c * x0 for c in cs]
        s = np.stack(ys)
        loss = (s * s).sum()
        ds = 2 * s
        dx = np.zeros_like(x0)
        for c, d in zip(cs, ds):
            dx += c * d
        return float(loss)
    return step


def make_chainrule(x0, cs, concat=False):
    import chainrule as cr
    x = cr.tensor(x0.copy(), requires_grad=True)

    def stack(ys):
        if concat:
            return cr.concatenate([y.unsqueeze(0) for y in ys], 0)
        return cr.stack(ys)

    def step():
        x.grad = None
        s = stack([c * x for c in cs])
        loss = (s * s).sum()
        loss.backward()
        return float(loss)
    return step


def make_torch(x0, cs):
    torch = torch_threads()
    x = torch.from_numpy(x0.copy()).requires_grad_()

    def step():
        x.grad = None
        s = torch.stack([c * x for c in cs])
        loss = (s * s).sum()
        loss.backward()
        return loss.item()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=N, help="fan-out width (default 1000)")
    ap.add_argument("--rounds", type=int, default=11)
    a = ap.parse_args(argv)
    x0, cs = setup(a.n)
    steps = {"numpy": make_numpy(x0, cs), "chainrule": make_chainrule(x0, cs),
             "chainrule-unsqueeze+concat": make_chainrule(x0, cs, concat=True)}
    try:
        steps["torch"] = make_torch(x0, cs)
    except ImportError:
        print("(torch not installed: no torch row)")
    losses = {k: s() for k, s in steps.items()}
    ref = losses["numpy"]
    for k, v in losses.items():
        assert abs(v - ref) <= 1e-4 * abs(ref), f"{k}: loss {v} vs numpy {ref}"
    res = time_paired(steps, a.rounds, 0.1)
    print(f"{a.n}-way fan-out on {WIDTH} floats through stack, Σ stack², backward to x")
    print(f"{'implementation':<28}{'median ms/step':>16}{'IQR ms':>18}{'ratio to NumPy':>16}")
    for k, (times, ratios) in res.items():
        lo, hi = quartiles(times)
        print(f"{k:<28}{np.median(times):>16.3f}{f'{lo:.3f}–{hi:.3f}':>18}"
              f"{np.median(ratios):>15.2f}×")


if __name__ == "__main__":
    main()
