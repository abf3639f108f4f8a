"""cross_entropy in compiled steps: the per-call target check (range, ignore_index) shared by the
forward and cross_entropy_grad, the softmax residual updated in place only when nothing else reads
it, and the primitive's own errors for targets out of range."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import nn as nnops

F = cr.nn.functional
pytestmark = pytest.mark.usefixtures("kernel_cache")


def _model(classes=7, dtype=np.float64):
    cr.manual_seed(0)
    m = cr.nn.Linear(4, classes, dtype=dtype)
    X = cr.tensor(np.random.default_rng(1).standard_normal((6, 4)), dtype=dtype)
    return m, X


def test_compiled_step_checks_the_targets_once_and_matches_eager_bit_for_bit():
    m, X = _model()

    def step(y):
        m.zero_grad()
        loss = F.cross_entropy(m(X), y)
        loss.backward()
        return loss, m.weight.grad, m.bias.grad
    fast = cr.compile(step)
    for b in ([0, 1, 2, 3, 4, 5], [6, 6, 0, -100, 2, 1], [-100] * 6, [5, 4, 3, 2, 1, 0]):
        y = cr.tensor(np.array(b))
        got = [t.data.copy() for t in fast(y)]
        want = [t.data.copy() for t in step(y)]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    src = fast.source
    assert src.count("_ce_targets(c") == 1 or src.count("= _ce_targets(") == 1   # one check per call
    assert "in place over the softmax residual" in src


def test_a_softmax_the_step_returns_is_not_overwritten_by_the_gradient():
    """softmax(x) of the loss's logits is the cross-entropy's residual too: the backward must not
    update that array in place while the step returns it."""
    m, X = _model()
    y = cr.tensor(np.array([0, 1, 2, 3, 4, 5]))

    def step():
        m.zero_grad()
        logits = m(X)
        loss = F.cross_entropy(logits, y)
        p = F.softmax(logits, dim=-1)   # after the loss: taken from its residual
        loss.backward()
        return loss, p
    fast = cr.compile(step)
    for _ in range(3):
        loss, p = fast()
        want_loss, want_p = step()
        np.testing.assert_array_equal(p.data, want_p.data)
        np.testing.assert_allclose(p.data.sum(axis=1), 1.0, rtol=1e-12)
        assert loss.item() == want_loss.item()
    assert "the cross-entropy's residual" in fast.source


@pytest.mark.parametrize("bad", [7, 100, -1, -100])
def test_a_target_out_of_range_raises_naming_the_op(bad):
    x = np.zeros((3, 7))
    t = np.array([0, bad, 2])
    with pytest.raises(IndexError, match=r"cross_entropy: target -?\d+ is out of range for 7 "
                                         r"classes \(logits \(3, 7\)\)"):
        nnops.CrossEntropy.forward(x, t)
    if bad != -100:   # with ignore_index=-100 only the others are wrong
        with pytest.raises(IndexError, match="out of range"):
            nnops.CrossEntropy.forward(x, t, ignore_index=-100)


def test_a_later_call_with_a_target_out_of_range_raises_in_a_compiled_step():
    m, X = _model()
    y = cr.tensor(np.array([0, 1, 2, 3, 4, 5]))

    def step():
        m.zero_grad()
        loss = F.cross_entropy(m(X), y)
        loss.backward()
        return loss
    fast = cr.compile(step)
    fast()
    y.data[2] = 7   # a data loader filling the captured batch with a bad label
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of range for 7 classes"):
        fast()


@pytest.mark.parametrize("ignore_index", [None, -100, 2])
def test_transposed_logits_take_the_same_values_as_contiguous_ones(ignore_index):
    """The softmax residual keeps the logits' memory layout; the in-place update of a
    non-C-contiguous residual must land in it."""
    rng = np.random.default_rng(3)
    xc = rng.standard_normal((5, 4))
    xf = np.asfortranarray(xc)
    t = np.array([0, 3, 2, 2, 1])
    kw = {"ignore_index": ignore_index}
    (lc, pc), (lf, pf) = (nnops.CrossEntropy.forward(x, t, "mean", **kw)
                          for x in (xc, xf))
    assert lc == lf
    g = np.array(1.0)
    gc = nnops.CrossEntropy.vjp(g, pc, None, xc, t, "mean", **kw)[0]
    gf = nnops.CrossEntropy.vjp(g, pf, None, xf, t, "mean", **kw)[0]
    np.testing.assert_array_equal(gc, gf)
    onehot = np.eye(4)[t]
    p = np.exp(xc) / np.exp(xc).sum(axis=1, keepdims=True)
    keep = np.ones(5) if ignore_index is None else (t != ignore_index).astype(float)
    want = (p - onehot) * keep[:, None] / keep.sum()
    np.testing.assert_allclose(gc, want, rtol=1e-12, atol=1e-15)
