"""Tensor conveniences, reductions with dtype=, nan-aware reductions and NumPy's argument order."""
import numpy as np
import pytest

import chainrule as cr


def test_reductions_take_dtype_and_numpy_positional_dtype_is_not_keepdims():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.sum(dtype=cr.float64).dtype == np.float64
    assert cr.mean(x, dim=1, dtype=cr.float64).dtype == np.float64
    assert cr.tensor([1, 2, 3]).prod(dtype=cr.float32).dtype == np.float32
    got = np.mean(x, 0, np.float64)          # NumPy's order: (a, axis, dtype, out, keepdims)
    assert got.shape == (2,) and got.dtype == np.float64
    np.testing.assert_allclose(got.data, [2.0, 3.0])
    assert np.sum(x, 1, None, None, True).shape == (2, 1)
    x.sum(dtype=cr.float64).backward()
    assert x.grad.dtype == np.float32 and np.all(x.grad.data == 1)
    with pytest.raises(TypeError, match="numpy.sum: initial="):
        np.sum(x, initial=1)


def test_var_std_correction_gives_nan_like_pytorch():
    assert np.isnan(cr.tensor([1.0]).var().item())
    assert np.isinf(cr.tensor([[1.0, 2.0], [3.0, 4.0]]).var(dim=0, correction=2).data).all()
    assert cr.tensor([1.0, 2.0, 3.0, 4.0]).var(correction=0).item() == pytest.approx(1.25)


def test_nan_reductions_and_boolean_reductions():
    a = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 0.0]])
    x = cr.tensor(a, dtype=np.float64, requires_grad=True)
    np.testing.assert_allclose(cr.nansum(x, 1).data, np.nansum(a, 1))
    np.testing.assert_allclose(np.nanmean(x, axis=0).data, np.nanmean(a, axis=0))
    np.testing.assert_allclose(x.nanmean(dim=1, keepdim=True).data, np.nanmean(a, 1, keepdims=True))
    cr.nansum(x).backward()
    np.testing.assert_array_equal(x.grad.data, ~np.isnan(a) * 1.0)
    assert cr.count_nonzero(x).item() == np.count_nonzero(a)
    np.testing.assert_array_equal(np.count_nonzero(x, axis=0).data, np.count_nonzero(a, axis=0))
    np.testing.assert_array_equal(cr.all(x, 1).data, np.all(a, 1))
    np.testing.assert_array_equal(x.any(dim=0, keepdim=True).data, np.any(a, 0, keepdims=True))


def test_tensor_conveniences():
    x = cr.tensor([1.0, 2.0])
    assert x.cpu() is x
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float32 and not z.requires_grad
    assert x.new_ones((4,), dtype=cr.float64).dtype == np.float64
    np.testing.assert_array_equal(x.new_full((2,), 7.0).data, [7.0, 7.0])
    assert x.new_tensor([1, 2]).dtype == np.float32
    assert x.type() == "float32" and x.type(cr.float64).dtype == np.float64
    assert x.half().dtype == np.float16
    with pytest.raises(TypeError, match="bfloat16"):
        x.bfloat16()
    cr.manual_seed(0)
    a = cr.randn_like(x)
    cr.manual_seed(0)
    assert np.array_equal(a.data, cr.randn_like(x).data) and a.dtype == np.float32
    assert cr.rand_like(x, dtype=cr.float64).dtype == np.float64
    r = cr.randint_like(cr.zeros(100), 3, 5)
    assert set(np.unique(r.data)) <= {3.0, 4.0} and r.shape == (100,)
    y = x.clone()
    y.fill_(3.0)
    assert x.data.tolist() == [1.0, 2.0] and y.data.tolist() == [3.0, 3.0]
    assert y.zero_().data.tolist() == [0.0, 0.0]


def test_dataloader_generator_makes_shuffling_reproducible():
    ds = cr.data.TensorDataset(cr.arange(20))

    def order(seed):
        return np.concatenate([b[0].data for b in cr.data.DataLoader(
            ds, batch_size=4, shuffle=True, generator=cr.Generator().manual_seed(seed))])
    assert np.array_equal(order(1), order(1)) and not np.array_equal(order(1), order(2))


def test_numpy_function_without_equivalent_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="numpy.histogram is not supported"):
        np.histogram(cr.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="numpy.eig is not supported"):
        np.linalg.eig(cr.eye(2))


def test_numpy_split_has_numpy_semantics_and_keeps_the_gradient():
    a = np.arange(12.0).reshape(6, 2)
    x = cr.tensor(a, dtype=np.float64, requires_grad=True)
    for args in [(3,), ([1, 4],), ([2, 10],), (2, 1)]:
        got, want = np.split(x, *args), np.split(a, *args)
        assert [g.shape for g in got] == [w.shape for w in want]
        assert all(np.array_equal(g.data, w) for g, w in zip(got, want))
    assert [p.shape[0] for p in np.array_split(x, 4)] == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="equal division"):
        np.split(x, 4)
    pieces = np.split(x, [1, 4])
    (pieces[0].sum() * 1 + pieces[2].sum() * 3).backward()
    np.testing.assert_array_equal(x.grad.data[:, 0], [1, 0, 0, 0, 3, 3])


def test_every_cr_name_that_numpy_also_has_dispatches_on_tensors():
    from chainrule.functions import EXPOSED
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    names = {n for e in EXPOSED.values() for n in e.names}
    names -= {"can_cast", "result_type"}   # dtype utilities: NumPy's take dtypes, not Tensors
    names -= {"select"}   # np.select(condlist, choicelist) is another op than torch.select(x, dim, i)
    unsupported = []
    for n in sorted(names):
        f = getattr(np, n, None)
        if f is None or not callable(f) or isinstance(f, np.ufunc):
            continue
        for args in ((x,), (x, x), (x, 0), ([x, x],)):
            try:
                f(*args)
                break
            except TypeError as e:
                if "not supported on chainrule" in str(e):
                    unsupported.append(n)
                    break
            except Exception:   # wrong arity or arguments for this function: try the next form
                continue
    assert not unsupported, f"NumPy functions with a cr equivalent that do not dispatch: {unsupported}"


def test_numpy_median_nonzero_take_unique_keep_numpys_semantics():
    a = np.array([[3.0, 1.0, 5.0, 7.0], [2.0, 4.0, 0.0, 6.0]])
    t = cr.tensor(a, dtype=cr.float64, requires_grad=True)
    for kw in ({}, {"axis": 0}, {"axis": 1}, {"axis": 1, "keepdims": True}):
        np.testing.assert_allclose(np.median(t, **kw).data, np.median(a, **kw))
    np.median(t).backward()   # even count: the two middle values (3 and 4) share the gradient
    np.testing.assert_allclose(t.grad.data, np.where((a == 3) | (a == 4), 0.5, 0.0))
    assert [i.tolist() for i in np.nonzero(t)] == [i.tolist() for i in np.nonzero(a)]
    np.testing.assert_array_equal(np.take(t, [[0], [5]]).data, np.take(a, [[0], [5]]))
    np.testing.assert_array_equal(np.take(t, [2, 0], axis=1).data, np.take(a, [2, 0], axis=1))
    u, c = np.unique(cr.tensor([3, 1, 3]), return_counts=True)
    assert u.tolist() == [1, 3] and c.tolist() == [1, 2]
