"""The course's checks: relative-error bands, kink detection, cs231n-style helpers, cr.check.layer."""
import numpy as np
import pytest

import chainrule as cr


def _relu_net(x, W1, W2):
    return (cr.relu(x @ W1) @ W2).sum()


def _at_kink():
    # integer-valued data: the first hidden unit's pre-activation is exactly 1·1 + (−1)·1 = 0
    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    W1 = np.array([[1.0, 0.3], [1.0, -0.7]])
    W2 = np.array([[0.8], [-1.2]])
    assert (x @ W1)[0, 0] == 0.0
    return x, W1, W2


def test_relu_net_exactly_at_a_kink_is_reported_as_a_kink_not_a_bug():
    x, W1, W2 = _at_kink()
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(_relu_net, x, W1, W2)
    e = info.value
    assert e.failures and all(f.kink for f in e.failures)
    assert all("relu #1" in f.kinks for f in e.failures)
    assert "not a bug in the backward pass" in str(e) and "\n" not in str(e)
    # x−h and x+h straddle 0: the numerical slope gets half the dead unit's path 0.5·W1·W2[0]
    f = e.failures[0]
    assert f.numerical - f.analytic == pytest.approx(0.5 * 1.0 * 0.8, rel=1e-6)
    # off the kink the same net passes
    assert cr.gradcheck(_relu_net, x + np.array([[1e-3, 0.0], [0.0, 0.0]]), W1, W2)


def test_wrong_gate_is_reported_as_a_bug_with_its_band():
    class LeakyWrong(cr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 3.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.9

    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda t: LeakyWrong.apply(cr.relu(t)).sum(), np.array([0.5, 1.5, 2.0]))
    e = info.value
    assert all(f.kink is False for f in e.failures)
    assert "no kink crossed" in str(e) and "a bug" in str(e)
    assert e.failures[0].rel_error == pytest.approx(0.1 / 3.0, rel=1e-4)
    assert e.failures[0].band == "wrong"


def test_bands_follow_the_course():
    assert cr.check.band(1e-9) == "fine"
    assert cr.check.band(1e-5) == "fine only near a kink"
    assert cr.check.band(1e-5, kink=False) == "too high without a kink"
    assert cr.check.band(1e-3) == "uncomfortable"
    assert cr.check.band(0.05) == "wrong"
    assert cr.check.band(float("nan")) == "wrong"


def test_check_backward_of_numpy_code_sees_kinks_too():
    fwd = lambda x: np.maximum(x, 0).sum()  # noqa: E731
    x = np.array([0.0, 1.0, -1.0])
    with pytest.raises(cr.GradcheckError) as info:
        cr.check_backward(fwd, lambda d, x: (d * (x > 0),), x)
    assert [f.index for f in info.value.failures] == [(0,)]
    assert info.value.failures[0].kinks == ["maximum #1"]
    with pytest.raises(cr.GradcheckError, match="no kink crossed"):
        cr.check_backward(fwd, lambda d, x: (d * (x < 0),), x + 0.5)
    # a forward that leaves chainrule (np.asarray) cannot be looked into: it says neither
    opaque = lambda x: np.maximum(np.asarray(x), 0).sum()  # noqa: E731
    with pytest.raises(cr.GradcheckError) as info:
        cr.check_backward(opaque, lambda d, x: (d * (x > 0),), x)
    assert info.value.failures[0].kink is None and "kink" not in str(info.value)
    assert "kinks unknown" in info.value.report()


def test_numerical_helpers_match_closed_forms(rng):
    x = rng.standard_normal((3, 4))
    g = cr.check.eval_numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    assert cr.check.rel_error(g, np.cos(x)) < 1e-8
    df = rng.standard_normal((3, 4))
    ga = cr.check.eval_numerical_gradient_array(np.tanh, x, df)
    assert cr.check.rel_error(ga, df * (1 - np.tanh(x) ** 2)) < 1e-8
    x0 = x.copy()
    errs = cr.check.grad_check_sparse(lambda v: np.sum(v ** 3), x, 3 * x ** 2, 5, verbose=False)
    assert errs.shape == (5,) and errs.max() < 1e-7
    np.testing.assert_array_equal(x, x0)     # restored after the in-place probes
    errs = cr.check.grad_check_sparse(lambda v: np.sum(v ** 3), x, 2 * x ** 2, 5, verbose=False)
    assert errs.min() > 1e-2
    assert cr.check.rel_error(np.array([1.0]), np.array([1.0 + 2e-6])) == pytest.approx(1e-6, rel=1e-3)


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def test_layer_accepts_a_right_student_layer_and_names_the_wrong_gradient(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    r = cr.check.layer(affine_forward, affine_backward, x, w, b)
    assert r.ok and [row["name"] for row in r.rows] == ["dx", "dw", "db"]
    assert all(row["vs_numerical"] < 1e-7 and row["vs_autodiff"] < 1e-10 for row in r.rows)

    def wrong_backward(dout, cache):      # forgot to sum db over the batch: took the first row
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw, dout[0]
    r = cr.check.layer(affine_forward, wrong_backward, x, w, b)
    assert not r.ok
    assert r["db"]["verdict"] == "wrong" and r["db"]["band"] == "wrong" and r["db"]["kinks"] == 0
    assert r["dx"]["verdict"] == "ok" and "db: " in repr(r)


def relu_forward(x):
    return np.maximum(0, x), x


def test_layer_relu_at_a_kink_is_not_a_bug_but_a_wrong_mask_is():
    x = np.array([[0.0, 1.0], [-1.0, 2.0]])
    r = cr.check.layer(relu_forward, lambda d, x: d * (x > 0), x)
    assert r.ok and r["dx"]["kinks"] == 1
    r = cr.check.layer(relu_forward, lambda d, x: d * (x < 0), x)
    assert not r.ok and r["dx"]["band"] == "wrong"


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    mask = (np.random.rand(*x.shape) < p) / p    # the assignment's dropout: global np.random
    return x * mask, mask


def test_layer_reseeds_dropout_so_the_check_means_something(rng):
    x = rng.standard_normal((8, 6))
    np.random.seed(5)
    cr.manual_seed(5)
    expect = np.random.rand(), cr.rand(()).item()
    np.random.seed(5)
    cr.manual_seed(5)
    r = cr.check.layer(dropout_forward, lambda d, mask: d * mask, x, dropout_param={"p": 0.5})
    assert r.ok and r["dx"]["vs_numerical"] < 1e-7
    assert (np.random.rand(), cr.rand(()).item()) == expect    # the user's random state is kept
    r = cr.check.layer(dropout_forward, lambda d, mask: d * 2.0, x, dropout_param={"p": 0.5})
    assert not r.ok
    # without reseeding, every probe draws a new mask and the numerical gradient is noise
    out, mask = dropout_forward(x, {"p": 0.5})
    dout = np.ones_like(x)
    naive = cr.check.eval_numerical_gradient_array(
        lambda v: dropout_forward(v, {"p": 0.5})[0], x.copy(), dout)
    assert cr.check.rel_error(naive, dout * mask) > 0.1
    # chainrule's own dropout draws from cr's generator: reseeded as well
    def cr_dropout_forward(x):
        out = cr.nn.functional.dropout(x if isinstance(x, cr.Tensor) else cr.from_numpy(x), 0.5)
        if isinstance(x, cr.Tensor):       # the autodiff pass
            return out, None
        return out.data, (out.data != 0) / 0.5
    r = cr.check.layer(cr_dropout_forward, lambda d, mask: d * mask, x)
    assert r.ok and r["dx"]["vs_autodiff"] < 1e-12
    assert not cr.check.layer(cr_dropout_forward, lambda d, mask: d, x).ok


def test_layer_says_when_it_cannot_count_on_autodiff(rng):
    def inplace_relu(x):
        out = x.copy()
        out[out < 0] = 0
        return out, x
    r = cr.check.layer(inplace_relu, lambda d, x: d * (x > 0), rng.standard_normal((3, 3)))
    assert r.ok and r["dx"]["vs_autodiff"] is None and "numerical gradients only" in repr(r)
    with pytest.raises(cr.GradcheckError, match="returned 1 gradients for the 3"):
        cr.check.layer(affine_forward, lambda d, c: d, *[rng.standard_normal(s) for s in
                                                         [(2, 3), (3, 4), (4,)]])
