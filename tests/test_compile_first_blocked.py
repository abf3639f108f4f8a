"""fuse="auto": a big in-place update of plain ufunc ops (an optimizer step on a large parameter)
runs as NumPy in cache-sized blocks (fuse.Blocked), not as a numba kernel, so the first call does
not import numba. The blocks compute each op with the same ufunc and dtypes as eager code: the
parameters, optimizer state and losses must be bit-identical to eager's, with or without numba."""
import importlib

import numpy as np
import pytest

import chainrule as cr

fuse = importlib.import_module("chainrule.compile.fuse")

# (ops - 1) x elements >= AUTO_MIN_WORK for a 2-op update; not a multiple of the block size, so
# the last block is a short one
N = fuse.AUTO_MIN_WORK + 12345


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))


OPTS = {"sgd": lambda p: cr.optim.SGD(p, lr=0.1),
        "momentum-wd": lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
        "adam": lambda p: cr.optim.Adam(p, lr=1e-2)}


def _twins(make_opt, dtype, n=N, fuse_opt=None):
    """A linear layer's loss whose weight gradient is a matmul written into `.grad` (as W2's),
    so the optimizer's update is the only elementwise group on the big array."""
    rng = np.random.default_rng(0)
    rows = 1024
    w0 = rng.standard_normal((rows, -(-n // rows))).astype(dtype)
    x = cr.tensor(rng.standard_normal((4, rows)).astype(dtype))
    steps = []
    for compiled in (False, True):
        w = cr.tensor(w0.copy(), requires_grad=True)
        opt = make_opt([w])

        def step(w=w, opt=opt):
            loss = cr.tanh(x @ w).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        steps.append((w, opt, cr.compile(step, fuse=fuse_opt) if compiled else step))
    return steps, w0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", sorted(OPTS))
def test_blocked_update_is_bit_identical_to_eager(opt, dtype):
    ((w1, o1, eager), (w2, o2, comp)), w0 = _twins(OPTS[opt], dtype)
    for _ in range(3):
        a, b = eager().item(), comp().item()
        assert a == b
        np.testing.assert_array_equal(w2.data, w1.data)
        np.testing.assert_array_equal(w2.grad.data, w1.grad.data)
    for key, t in o1.state[w1].items():
        if isinstance(t, cr.Tensor):
            np.testing.assert_array_equal(o2.state[w2][key].data, t.data)
    src = comp.source
    assert "def _blocked" in src and "numba" not in src and "@njit" not in src
    assert "updated in place" in src
    # the update moved the parameter: the test compares real steps, not two untouched arrays
    assert not np.array_equal(w1.data, w0)


def test_small_update_is_not_blocked():
    """Below AUTO_MIN_WORK the plain `out=` statements stay (one block would be the same calls)."""
    ((w1, _, eager), (w2, _, comp)), _ = _twins(OPTS["sgd"], np.float64, n=1000)
    eager(), comp()
    assert "_blocked" not in comp.source
    np.testing.assert_array_equal(w2.data, w1.data)


def test_blocked_kernel_reads_before_it_writes():
    """Adam's update: m and v are written back in place while later ops of the block still read
    the gradient and v; outputs computed before the last read go through a temporary and are
    copied at the block's end."""
    ((w1, o1, eager), (w2, o2, comp)), _ = _twins(OPTS["adam"], np.float32)
    eager(), comp()
    src = comp.source
    body = src[src.index("def _blocked"):src.index("\ndef step(")]
    assert "] = v" in body   # a copy at the end of a block
    np.testing.assert_array_equal(w2.data, w1.data)
    for key in ("exp_avg", "exp_avg_sq"):
        if key in o1.state[w1]:
            np.testing.assert_array_equal(o2.state[w2][key].data, o1.state[w1][key].data)
