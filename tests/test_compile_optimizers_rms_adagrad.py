"""cr.compile traces RMSprop and Adagrad steps (their formulas as Tensor ops in compile/optim.py):
parameters and state equal eager's bit for bit, with a scheduler changing lr between calls."""
import numpy as np
import pytest

import chainrule as cr

from helpers import training_step

pytestmark = pytest.mark.usefixtures("kernel_cache")

CONFIGS = [
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, maximize=True)),
]


def _run(compiled, name, kw, dtype):
    cr.manual_seed(0)
    m = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 1)).to(dtype)
    opt = getattr(cr.optim, name)(m.parameters(), **kw)
    sched = cr.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    f = training_step(m, opt, compiled=compiled)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(10):
        losses.append(float(f(cr.tensor(rng.standard_normal((5, 3)), dtype=dtype))))
        sched.step()
    state = [np.asarray(v.numpy()) for p in m.parameters() for v in opt.state[p].values()]
    return losses, [p.numpy().copy() for p in m.parameters()], state, getattr(f, "traces", 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_rmsprop_and_adagrad_compiled_equal_eager(name, kw, dtype):
    la, pa, sa, _ = _run(False, name, kw, dtype)
    lb, pb, sb, traces = _run(True, name, kw, dtype)
    assert la == lb
    for x, y in zip(pa + sa, pb + sb):
        np.testing.assert_array_equal(x, y)
    assert traces <= 2   # the first call creates the state (RMSprop), then one program serves
    assert la[-1] != la[0]
