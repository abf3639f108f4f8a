"""cr.compile and values decided from data: a result whose shape or layout the data sets is a graph
break (GraphBreak, or eager with fallback='eager'); counts, any/all, nanmean and logcumsumexp
are primitives, so a compiled step recomputes them on every call."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.compile import GraphBreak

pytestmark = pytest.mark.usefixtures("kernel_cache")

W = np.arange(6.0) + 1
MASKS = [np.array([1, 1, 1, 1, 0, 0], bool), np.array([0, 0, 1, 0, 0, 0], bool),
         np.array([1, 0, 1, 0, 0, 1], bool)]
INDICES = [np.array([0, 1, 0, 2, 2, 1]), np.array([2, 2, 2, 0, 1, 1]), np.array([1, 1, 1, 1, 1, 0])]

SHAPED = {   # the data sets the result's shape or layout
    "mask getitem": (lambda w, m, i: (w[m] * 2).sum(), "boolean mask"),
    "masked_select": (lambda w, m, i: cr.masked_select(w, m).sum(), "boolean mask"),
    "nonzero": (lambda w, m, i: w[cr.nonzero(m)[:, 0]].sum(), "nonzero"),
    "unique": (lambda w, m, i: w[cr.unique(i)].sum(), "unique"),
    "repeat_interleave": (lambda w, m, i: cr.repeat_interleave(w, i).sum(), "repeat_interleave"),
    "masked_scatter": (lambda w, m, i: cr.zeros(6, dtype=cr.float64).masked_scatter(m, w).sum(),
                       "masked_scatter"),
    "scatter_reduce": (lambda w, m, i: (cr.zeros(3, dtype=cr.float64).scatter_reduce(0, i, w, "amax")
                                        * cr.tensor([1.0, 2.0, 3.0])).sum(), "scatter_reduce"),
}

VALUED = {   # the data sets values only: primitives, recomputed per call
    "count_nonzero": lambda w, m, i: w.sum() * cr.count_nonzero(m),
    "any/all": lambda w, m, i: (w * cr.any(cr.stack([m, ~m]), 0)).sum() + cr.all(m).astype(cr.float64),
    "np.count_nonzero": lambda w, m, i: w.sum() * np.count_nonzero(i, axis=0),
    "nanmean": lambda w, m, i: cr.nanmean(cr.where(m, w, float("nan"))),
    "logcumsumexp": lambda w, m, i: cr.logcumsumexp(w * (i * 3.0), 0).sum(),
}


def _step(fn):
    w = cr.tensor(W.copy(), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)

    def step(m, i):
        opt.zero_grad()
        loss = fn(w, m, i)
        loss.backward()
        opt.step()
        return loss
    return step, w


@pytest.mark.parametrize("name", sorted(SHAPED))
def test_data_set_shapes_break_the_graph_and_fallback_equals_eager(name):
    fn, what = SHAPED[name]
    step, _ = _step(fn)
    with pytest.raises(GraphBreak, match=what):
        cr.compile(step)(cr.tensor(MASKS[0]), cr.tensor(INDICES[0]))
    eager, w_eager = _step(fn)
    fell, w_fell = _step(fn)
    fell = cr.compile(fell, fallback="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for m, i in zip(MASKS, INDICES):
            a, b = eager(cr.tensor(m), cr.tensor(i)), fell(cr.tensor(m), cr.tensor(i))
            assert float(a) == float(b)
    np.testing.assert_array_equal(w_fell.numpy(), w_eager.numpy())


@pytest.mark.parametrize("name", sorted(VALUED))
def test_data_set_values_are_recomputed_on_every_call(name):
    eager, w_eager = _step(VALUED[name])
    comp, w_comp = _step(VALUED[name])
    comp = cr.compile(comp)
    losses = []
    for m, i in zip(MASKS, INDICES):
        a, b = eager(cr.tensor(m), cr.tensor(i)), comp(cr.tensor(m), cr.tensor(i))
        losses.append(float(a))
        assert float(b) == float(a), name
    assert len(set(losses)) == len(losses)   # the data did change the loss
    assert comp.traces == 1
    np.testing.assert_array_equal(w_comp.numpy(), w_eager.numpy())


def test_count_any_all_match_numpy_on_axes_and_empty():
    rng = np.random.default_rng(0)
    for x in [rng.integers(0, 2, (3, 4)).astype(np.float32), np.zeros((0, 3)), np.array([0, 2, 0])]:
        t = cr.tensor(x)
        for ax in [None, 0, -1]:
            for kd in [False, True]:
                for f in (np.any, np.all, np.count_nonzero):
                    got, ref = f(t, axis=ax, keepdims=kd), f(x, axis=ax, keepdims=kd)
                    assert got.shape == np.shape(ref)
                    np.testing.assert_array_equal(got.numpy(), ref)
            assert cr.count_nonzero(t, ax).dtype == np.int64
            np.testing.assert_array_equal(cr.all(t, ax, keepdim=True).numpy(),
                                          np.all(x, ax, keepdims=True))


def test_integer_bit_logic_rint_round_isclose_and_numeric_where_are_recomputed():
    """No-gradient NumPy functions on integer / float data go through primitives too."""
    fns = {
        "bits": lambda w, i: w.sum() * ((i & 1).sum() + 2 * (i | 4).sum() + 3 * (i ^ 3).sum()
                                         + 5 * (~i).sum()),
        "rint": lambda w, i: (w * np.rint(i * 0.5)).sum(),
        "round": lambda w, i: (w * np.round(i * 0.26, 1)).sum(),
        "isclose": lambda w, i: (w * cr.isclose(i.astype(cr.float64), 1.0)).sum(),
        "numeric where": lambda w, i: cr.where(i - 1, w, -w).sum(),
    }
    for name, fn in fns.items():
        eager, w_eager = _step(lambda w, m, i: fn(w, i))
        comp, w_comp = _step(lambda w, m, i: fn(w, i))
        comp = cr.compile(comp)
        losses = []
        for m, i in zip(MASKS, INDICES):
            a, b = eager(cr.tensor(m), cr.tensor(i)), comp(cr.tensor(m), cr.tensor(i))
            assert float(b) == float(a), name
            losses.append(float(a))
        assert len(set(losses)) > 1, name
        np.testing.assert_array_equal(w_comp.numpy(), w_eager.numpy(), err_msg=name)
