"""Scans, sorting, layout and scatter ops without PyTorch: NumPy's semantics under NumPy's names,
edge cases (empty, 0-d, zeros, ties), numerical gradients and one-line errors."""
import numpy as np
import pytest

import chainrule as cr


def f64(v, grad=True):
    return cr.tensor(np.asarray(v, dtype=np.float64), requires_grad=grad)


@pytest.mark.parametrize("fn,args", [(np.cumsum, ()), (np.cumsum, (1,)), (np.cumprod, (0,)),
                                     (np.flip, ()), (np.flip, (1,)), (np.roll, (2,)), (np.roll, (1, 0)),
                                     (np.tile, ((2, 1),)), (np.repeat, (2,)), (np.repeat, (2, 1)),
                                     (np.tril, ()), (np.triu, (1,)), (np.diagonal, ()),
                                     (np.diag, ()), (np.trace, ()), (np.fliplr, ()), (np.flipud, ()),
                                     (np.atleast_3d, ())])
def test_numpy_functions_on_tensors_keep_numpy_semantics(fn, args):
    a = np.arange(12.0).reshape(3, 4) - 5
    out = fn(cr.tensor(a, dtype=np.float64), *args)
    assert isinstance(out, cr.Tensor)
    np.testing.assert_array_equal(out.data, fn(a, *args))


def test_numpy_stacks_and_meshgrid_on_tensors():
    a, b = np.arange(3.0), np.arange(2.0)
    for fn in (np.vstack, np.hstack, np.dstack, np.column_stack):
        np.testing.assert_array_equal(fn([cr.tensor(a), cr.tensor(a)]).data, fn([a, a]))
    for g, r in zip(np.meshgrid(cr.tensor(a), cr.tensor(b)), np.meshgrid(a, b)):   # 'xy'
        np.testing.assert_array_equal(g.data, r)


def test_cumprod_gradients_exact_at_zeros_and_second_order():
    for v in ([2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 2.0], [1.5, -2.0, 0.0]):
        assert cr.gradcheck(lambda x: cr.cumprod(x, dim=0), np.array(v))
        assert cr.gradgradcheck(lambda x: cr.cumprod(x, dim=0), np.array(v))


@pytest.mark.parametrize("f", [lambda x: cr.logcumsumexp(x, 1), lambda x: x.sort(1).values * 1.5,
                               lambda x: x.topk(2, 0).values, lambda x: cr.cummax(x, 1).values,
                               lambda x: x.median(0).values, lambda x: cr.roll(x, 1, 1),
                               lambda x: x.unfold(1, 2, 1), lambda x: cr.diag_embed(x),
                               lambda x: cr.pad(x, ((1, -1), (2, 0)), mode="reflect"),
                               lambda x: x.scatter_reduce(0, cr.tensor([[0, 2, 2, 1]]), x[:1] * 2, "prod"),
                               lambda x: x.scatter_reduce(0, cr.tensor([[0, 2, 2, 1]]), x[:1] * 2, "mean",
                                                          include_self=False)])
def test_compositions_pass_gradcheck(f):
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert cr.gradcheck(f, x)


def test_empty_and_0d_inputs():
    e = f64(np.zeros((0, 3)))
    assert cr.cumsum(e, dim=0).shape == (0, 3) and cr.cumprod(e, dim=1).shape == (0, 3)
    assert e.sort(0).values.shape == (0, 3) and cr.flip(e, 0).shape == (0, 3)
    s = f64(2.5)
    assert cr.cumsum(s, dim=0).shape == () and float(cr.cumprod(s, dim=0).data) == 2.5
    v, i = s.sort()
    assert v.shape == () and i.shape == () and int(i.data) == 0
    (cr.cumsum(s, dim=0) * 2).backward()
    assert float(s.grad) == 2.0
    assert cr.atleast_1d(cr.tensor(1.0)).shape == (1,)


def test_integer_scans_give_int64_and_unique_has_no_gradient():
    assert cr.cumsum(cr.tensor([1, 2, 3], dtype=np.int32), dim=0).dtype == np.int64
    u, c = cr.unique(cr.tensor([3, 1, 3]), return_counts=True)
    assert u.tolist() == [1, 3] and c.tolist() == [1, 2] and not u.requires_grad


def test_scatter_into_graph_records_and_leaf_refuses():
    x = f64(np.zeros(3))
    with pytest.raises(RuntimeError, match="leaf tensor"):
        x.index_fill_(0, cr.tensor([1]), 2.0)
    y = x * 1
    src = f64([1.0, 2.0])
    y.index_add_(0, cr.tensor([2, 2]), src)
    y.sum().backward()
    assert src.grad.tolist() == [1.0, 1.0] and x.grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("call,match", [
    (lambda: cr.topk(cr.ones(3), 4), "topk: k=4 is out of range"),
    (lambda: cr.kthvalue(cr.ones(3), 0), "kthvalue: k=0"),
    (lambda: cr.scatter(cr.zeros(3), 0, cr.tensor([5]), cr.ones(1)), "scatter: index 5..5 is out of bounds"),
    (lambda: cr.take(cr.ones(2, 2), cr.tensor([4])), "take: index 4..4 is out of range"),
    (lambda: cr.narrow(cr.ones(3), 0, 2, 2), "narrow: start 2"),
    (lambda: cr.masked_scatter(cr.zeros(2), cr.tensor([True, True]), cr.ones(1)), "masked_scatter"),
    (lambda: cr.scatter_reduce(cr.zeros(2), 0, cr.tensor([0]), cr.ones(1), "max"), "scatter_reduce: reduce"),
    (lambda: cr.cumsum(cr.ones(2), dim=3), "cumsum: axis 3"),
])
def test_errors_name_the_op_in_one_line(call, match):
    with pytest.raises(Exception, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_numpy_sort_and_argsort_on_tensors():
    a = np.array([[3.0, 1.0, 2.0], [0.0, 2.0, 2.0]])
    for kw in ({}, {"axis": 0}, {"axis": None}):
        np.testing.assert_array_equal(np.sort(cr.tensor(a), **kw).data, np.sort(a, **kw))
        np.testing.assert_array_equal(np.argsort(cr.tensor(a), **kw).data, np.argsort(a, kind="stable", **kw))


def test_negative_pads_crop_under_torch_names_but_np_pad_refuses_them():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), dtype=np.float64)
    np.testing.assert_array_equal(cr.nn.functional.pad(x, (-1, 1)).data, [[1, 2, 0], [4, 5, 0]])
    np.testing.assert_array_equal(cr.pad(x, ((0, 0), (-1, 1))).data, [[1, 2, 0], [4, 5, 0]])
    with pytest.raises(ValueError, match="numpy.pad: pad_width .* negative"):
        np.pad(x, ((0, 0), (-1, 1)))


def test_logcumsumexp_keeps_prefixes_far_below_the_maximum():
    """A running logaddexp: prefixes 240 below the row's maximum neither underflow to -inf nor give
    nan gradients (a shift by the row maximum did both); -inf entries get gradient 0."""
    x = np.array([[0.0, 30.0, 0.0, 180.0, 240.0, 180.0], [-np.inf, 0.0, 1.0, -np.inf, 2.0, 3.0]])
    t = cr.tensor(x, dtype=cr.float64, requires_grad=True)
    y = cr.logcumsumexp(t, 1)
    with np.errstate(divide="ignore"):   # log(0) for the all -inf prefix: -inf, as wanted
        ref = np.log(np.cumsum(np.exp(np.longdouble(x)), axis=1))
    np.testing.assert_allclose(y.numpy(), np.asarray(ref, np.float64), rtol=1e-12)
    y.sum().backward()
    # dL/dx_j = Σ_{k≥j} exp(x_j − y_k), closed form per row
    yk = y.numpy()
    want = np.array([[0.0 if x[r, j] == -np.inf else sum(np.exp(x[r, j] - yk[r, k])
                                                            for k in range(j, 6))
                      for j in range(6)] for r in range(2)])
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12)
    assert np.isfinite(t.grad.numpy()).all() and t.grad.numpy()[1, 0] == 0
