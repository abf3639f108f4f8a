"""Embedding(max_norm=) rescales the looked-up rows in place before the lookup: a compiled step must
repeat that on each call's rows, as eager code does (it used raw-array writes the trace never saw)."""
import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.usefixtures("kernel_cache")


def _run(compiled, norm_type):
    cr.manual_seed(0)
    emb = cr.nn.Embedding(6, 3, max_norm=1.0, norm_type=norm_type)
    with cr.no_grad():
        emb.weight.mul_(3.0)
    opt = cr.optim.SGD(emb.parameters(), lr=0.1)

    def step(i):
        opt.zero_grad()
        loss = (emb(i) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    f = cr.compile(step) if compiled else step
    losses = [float(f(cr.tensor(np.array([k % 6, (k + 2) % 6, (k + 2) % 6])))) for k in range(6)]
    return losses, emb.weight.numpy().copy()


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renorm_runs_on_every_compiled_call(norm_type):
    eager, w_eager = _run(False, norm_type)
    comp, w_comp = _run(True, norm_type)
    np.testing.assert_allclose(comp, eager, rtol=1e-6)
    np.testing.assert_allclose(w_comp, w_eager, rtol=1e-6)
    # rows looked up at least once were rescaled to norm <= 1 before the lookup, so the loss
    # (sum of squares of 3 looked-up rows) stays below 3 after the first call
    assert max(eager) <= 3.0 + 1e-5 and eager[-1] < eager[0]


def test_max_norm_rescales_only_the_rows_looked_up_once_each():
    emb = cr.nn.Embedding(4, 2, max_norm=1.0)
    emb.weight.data[:] = np.array([[3, 4], [0.6, 0.8], [6, 8], [1, 1]], np.float32)
    emb(cr.tensor(np.array([0, 0, 1, 2])))
    np.testing.assert_allclose(np.linalg.norm(emb.weight.data, axis=1), [1, 1, 1, np.sqrt(2)],
                               rtol=1e-6)
