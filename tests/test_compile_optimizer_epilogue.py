"""Optimizers without a traced update (Adamax, NAdam, RAdam, Adadelta, a user's own Optimizer)
inside cr.compile: their eager step() runs after the compiled code, on the .grad it wrote."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.compile import GraphBreak

F = cr.nn.functional


class Sign(cr.optim.Optimizer):
    """A user's optimizer: p -= lr * sign(g)."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, {"lr": lr})

    def _update(self, group, p, g, state):
        p -= group["lr"] * np.sign(g)


OPTS = {
    "Adamax": lambda ps: cr.optim.Adamax(ps, lr=0.01),
    "NAdam": lambda ps: cr.optim.NAdam(ps, lr=0.01),
    "RAdam": lambda ps: cr.optim.RAdam(ps, lr=0.01),
    "Adadelta": lambda ps: cr.optim.Adadelta(ps, lr=0.5),
    "user's Sign": lambda ps: Sign(ps, lr=0.01),
}


def _run(make_opt, compiled, steps=12):
    cr.manual_seed(0)
    m = cr.nn.Sequential(cr.nn.Linear(4, 8, dtype=np.float64), cr.nn.Tanh(),
                         cr.nn.Linear(8, 3, dtype=np.float64))
    opt = make_opt(m.parameters())

    def step(x, y):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    f = cr.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        losses.append(f(cr.tensor(rng.standard_normal((16, 4))),
                        cr.tensor(rng.integers(0, 3, 16))).item())
    return np.array(losses), [p.data.copy() for p in m.parameters()], f


@pytest.mark.parametrize("name", sorted(OPTS))
def test_an_untraced_optimizer_runs_after_the_compiled_step(name):
    la, pa, _ = _run(OPTS[name], False)
    lb, pb, f = _run(OPTS[name], True)
    np.testing.assert_allclose(lb, la, rtol=1e-12)
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    assert f.traces == 1 and len(f.last.epilogue) == 1


def test_ops_after_an_untraced_optimizer_step_are_a_graph_break():
    def make():
        cr.manual_seed(0)
        m = cr.nn.Linear(3, 2, dtype=np.float64)
        opt = cr.optim.NAdam(m.parameters(), lr=0.01)

        def step(x):
            loss = m(x).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return m(x).sum()   # reads the parameters after the eager update
        return m, step

    x = cr.tensor(np.arange(12.0).reshape(4, 3))
    with pytest.raises(GraphBreak, match="goes on after an optimizer step"):
        cr.compile(make()[1])(x)
    (m1, eager), (m2, step) = make(), make()
    f = cr.compile(step, fallback="eager")
    with pytest.warns(RuntimeWarning, match="goes on after an optimizer step"):
        got = [f(x).item() for _ in range(3)]
    assert got == [eager(x).item() for _ in range(3)]
    np.testing.assert_array_equal(m2.weight.data, m1.weight.data)
