"""Smoke test of the benchmarks: every workload, every installed implementation, tiny sizes.

Checks that each implementation's losses agree with the NumPy reference and that the NumPy
references are right (closed forms / finite differences), and that the runner runs end to end.
No timing assertions.
"""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is a top-level package of the repository, not part of the installed chainrule
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import WORKLOADS  # noqa: E402
from benchmarks.common import check_losses, peak_memory_mb, quartiles, time_paired  # noqa: E402

MODS = [importlib.import_module(f"benchmarks.{name}") for name in WORKLOADS]


@pytest.mark.parametrize("mod", MODS, ids=[m.KEY for m in MODS])
def test_losses_agree_with_numpy(mod):
    setup = mod.setup(quick=True)
    results = check_losses(mod.IMPLS, setup, mod.RTOL, steps=2)   # all installed ones
    ref = results["numpy"].losses
    assert len(ref) == 2 and all(np.isfinite(ref))
    assert ref[1] != ref[0]          # the SGD update changed something
    ran = [n for n, r in results.items() if r.error is None]
    assert "chainrule" in ran, results["chainrule"].error
    for name, res in results.items():
        if res.error and not res.error.startswith("not installed"):
            pytest.fail(f"{mod.KEY} {name}: {res.error}")
        if res.error is None:
            np.testing.assert_allclose(res.losses, ref, rtol=mod.RTOL)


def test_check_losses_flags_a_wrong_implementation():
    mod = MODS[0]
    setup = mod.setup(quick=True)

    def wrong(s):
        step = mod.make_numpy(s)
        return lambda: step() * 1.01
    res = check_losses({"numpy": mod.make_numpy, "wrong": wrong}, setup, mod.RTOL, steps=2)
    assert res["wrong"].error.startswith("loss mismatch at step 0")

    def missing(s):
        raise ImportError("no module", name="nosuchlib")
    res = check_losses({"numpy": mod.make_numpy, "missing": missing}, setup, mod.RTOL, steps=1)
    assert res["missing"].error == "not installed (nosuchlib)"


def _float64(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, (list, tuple)):
        return type(value)(_float64(v) for v in value)
    return value


def _numerical_grads(f, params, eps=1e-6):
    grads = []
    for x in params:
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            fp = f()
            x[i] = old - eps
            fm = f()
            x[i] = old
            g[i] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


NUMPY_REFS = [(m, k) for m in MODS for k in m.IMPLS if k.startswith("numpy")]


@pytest.mark.parametrize("mod,impl", NUMPY_REFS, ids=[f"{m.KEY}-{k}" for m, k in NUMPY_REFS])
def test_numpy_reference_takes_an_exact_sgd_step(mod, impl):
    # The hand-written backward must be right, or every ratio compares against the wrong work:
    # in float64, (params before − after) / lr must equal the finite-difference gradient.
    s = {k: _float64(v) for k, v in mod.setup(quick=True).items()}
    frozen = mod.IMPLS[impl](dict(s, lr=0.0))       # lr 0: step() just evaluates the loss
    expected = _numerical_grads(frozen, frozen.params)
    lr = 1e-3
    step = mod.IMPLS[impl](dict(s, lr=lr))
    before = [p.copy() for p in step.params]
    assert step() == pytest.approx(frozen(), rel=1e-12)
    for b, a, g in zip(before, step.params, expected):
        np.testing.assert_allclose((b - a) / lr, g, rtol=1e-5, atol=1e-7)
    assert any(np.abs(g).max() > 1e-3 for g in expected)   # a real step, not all zeros


def test_w2_numpy_variants_match_the_closed_form_step():
    # W' = W − lr·2xᵀ(xW): the loss after one step has a closed form
    from benchmarks import w2_big_matmul as w2
    s = w2.setup(quick=True)
    x, W = s["x"].astype(np.float64), s["W"].astype(np.float64)
    y0 = x @ W
    y1 = x @ (W - s["lr"] * 2 * x.T @ y0)
    for make in (w2.make_numpy, w2.make_numpy_inplace):
        step = make(s)
        assert step() == pytest.approx((y0 * y0).sum(), rel=1e-5)
        assert step() == pytest.approx((y1 * y1).sum(), rel=1e-5)


def test_runner_quick_end_to_end(tmp_path, capsys):
    runner = importlib.import_module("benchmarks.__main__")
    out = tmp_path / "bench.md"
    assert runner.main(["--quick", "--only", "W5", "--rounds", "2", "--round-ms", "0.5",
                        "--no-freeze", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## W5" in text and "## W1" not in text
    assert "numpy" in text and "chainrule" in text and "python -m benchmarks --quick" in text
    printed = capsys.readouterr().out
    assert "ratio to NumPy" in printed


def test_runner_rejects_unknown_workload():
    runner = importlib.import_module("benchmarks.__main__")
    with pytest.raises(SystemExit, match="W9"):
        runner.main(["--quick", "--only", "W9"])


def test_timing_and_memory_helpers():
    calls = {"a": 0, "numpy": 0}

    def mk(name):
        def step():
            calls[name] += 1
            np.ones(1000).sum()
            return 0.0
        return step
    timed = time_paired({"numpy": mk("numpy"), "a": mk("a")}, rounds=3, round_s=0.001, warmup=1)
    times, ratios = timed["numpy"]
    assert len(times) == 3 and ratios == [1.0, 1.0, 1.0]
    assert len(timed["a"][1]) == 3 and all(r > 0 for r in timed["a"][1])
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)

    def maker(s):
        def step():
            tmp = np.ones(s["n"])   # 1 MB transient per step
            return float(tmp[0])
        return step
    mb = peak_memory_mb(maker, {"n": 1 << 17})
    assert 0.99 < mb < 1.1


def test_compile_model_benchmark_runs(capsys):
    from benchmarks import compile_model
    compile_model.main(["--rounds", "1", "--steps", "1"])
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 4 and all(r.endswith("x") and float(r.split()[-1][:-1]) > 0 for r in rows)
