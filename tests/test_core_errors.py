"""Bad calls across the op API, transforms and checkers: one-line errors naming the op, shapes, expectation."""
import numpy as np
import pytest

import chainrule as cr

X = np.arange(12.0).reshape(3, 4)


def x34():
    return cr.tensor(X, requires_grad=True)


# (call, exception type, regex the message must match)
BAD_AXES = [
    (lambda: cr.sum(x34(), axis=2), r"^sum: axis 2 is out of range for shape \(3, 4\) \(expected an int in \[-2, 1\]\)$"),
    (lambda: x34().mean(dim=-3), r"^mean: axis -3 is out of range for shape \(3, 4\)"),
    (lambda: cr.prod(x34(), axis=(0, 5)), r"^prod: axis 5 is out of range for shape \(3, 4\)"),
    (lambda: cr.logsumexp(x34(), axis=(0, 0)), r"^logsumexp: axis \(0, 0\) names the same axis twice \(shape \(3, 4\)\)$"),
    (lambda: cr.max(x34(), axis=2), r"^max: axis 2 is out of range"),
    (lambda: x34().max(dim=4), r"^max: axis 4 is out of range for shape \(3, 4\)"),
    (lambda: x34().min(dim=2), r"^min: axis 2 is out of range"),
    (lambda: cr.amax(x34(), dim=3), r"^amax: axis 3 is out of range"),
    (lambda: cr.amin(x34(), dim=3), r"^amin: axis 3 is out of range"),
    (lambda: cr.var(x34(), axis=5), r"^var: axis 5 is out of range for shape \(3, 4\)"),
    (lambda: cr.std(x34(), dim=2), r"^std: axis 2 is out of range"),
    (lambda: cr.norm(x34(), axis=3), r"^norm: axis 3 is out of range"),
    (lambda: cr.argmax(x34(), axis=4), r"^argmax: axis 4 is out of range"),
    (lambda: cr.argmin(x34(), dim=4), r"^argmin: axis 4 is out of range"),
    (lambda: cr.softmax(x34(), axis=3), r"^softmax: axis 3 is out of range for shape \(3, 4\)"),
    (lambda: cr.log_softmax(x34(), dim=2), r"^log_softmax: axis 2 is out of range"),
    (lambda: x34().transpose(0, 2), r"^transpose: axis 2 is out of range for shape \(3, 4\)"),
    (lambda: cr.swapaxes(x34(), 0, 4), r"^swapaxes: axis 4 is out of range"),
    (lambda: cr.moveaxis(x34(), 4, 0), r"^moveaxis: axis 4 is out of range"),
    (lambda: cr.squeeze(x34(), 5), r"^squeeze: axis 5 is out of range for shape \(3, 4\)"),
    (lambda: x34().unsqueeze(3), r"^unsqueeze: axis 3 is out of range for shape \(3, 4\) \(expected an int in \[-3, 2\]\)$"),
    (lambda: cr.flatten(x34(), 3), r"^flatten: axis 3 is out of range"),
    (lambda: cr.split(x34(), 2, dim=2), r"^split: axis 2 is out of range"),
    (lambda: cr.chunk(x34(), 2, dim=-3), r"^chunk: axis -3 is out of range"),
]


@pytest.mark.parametrize("call,pattern", BAD_AXES, ids=[p.split(":")[0].strip("^") + str(i)
                                                         for i, (_, p) in enumerate(BAD_AXES)])
def test_bad_axis_names_op_shape_and_range(call, pattern):
    # AxisError is both an IndexError (PyTorch raises IndexError here) and a ValueError (NumPy)
    with pytest.raises((IndexError, ValueError), match=pattern) as info:
        call()
    assert "\n" not in str(info.value)


BAD_CALLS = [
    (lambda: cr.stack([x34(), cr.randn(3, 5)]), ValueError,
     r"^stack: expects tensors of one shape, got shapes \(3, 4\) and \(3, 5\)$"),
    (lambda: cr.outer(cr.randn(3, 2), cr.randn(4)), ValueError,
     r"^outer: expects two 1-D tensors, got shapes \(3, 2\) and \(4,\)$"),
    (lambda: cr.dot(cr.randn(3, 1), cr.randn(3)), ValueError, r"^dot: expects two 1-D tensors"),
    (lambda: cr.einsum("ij,jk->ik", x34(), cr.randn(3, 2)), ValueError,
     r"^einsum: subscripts 'ij,jk->ik' do not fit shapes \(3, 4\) and \(3, 2\)"),
    (lambda: cr.pad(x34(), ((1, 1),) * 3), ValueError,
     r"^pad: pad_width .* does not fit shape \(3, 4\): expected one \(before, after\) pair, or one per axis \(2 pairs\)$"),
    (lambda: cr.pad(x34(), (-3, -2)), ValueError,   # negative widths crop, within the shape
     r"^pad: negative padding .* removes more than shape \(3, 4\) has$"),
    (lambda: cr.chunk(x34(), 0), ValueError, r"^chunk: chunks must be a positive int, got 0 \(shape \(3, 4\)\)$"),
    (lambda: cr.split(x34(), 0), ValueError, r"^split: split_size must be a positive int, got 0"),
    (lambda: cr.flatten(x34(), 1, 0), ValueError, r"^flatten: start_dim 1 comes after end_dim 0"),
    (lambda: cr.unsqueeze(x34()), TypeError, r"^unsqueeze: missing the axis"),
    (lambda: cr.tensor("abc"), TypeError, r"^tensor: cannot make a tensor from str data"),
    (lambda: cr.randint(5, 5, (2,)), ValueError, r"^randint: expected low < high, got low=5, high=5$"),
    (lambda: cr.tensor([[1.0, 2.0], [3.0]]), ValueError, r"^tensor: cannot make a tensor from this data: .*inhomogeneous"),
    (lambda: cr.zeros(2, -1), ValueError, r"^zeros: size \(2, -1\) has a negative dimension$"),
    (lambda: cr.randn((3, -2)), ValueError, r"^randn: size \(3, -2\) has a negative dimension$"),
    (lambda: cr.ones("a"), TypeError, r"^ones: size must be ints or one tuple of ints"),
    (lambda: cr.linspace(0, 1, -1), ValueError, r"^linspace: steps must be >= 0, got -1$"),
    (lambda: cr.numerical_grad(lambda a: a * 2, np.ones(2), upstream=np.ones(3)), ValueError,
     r"^numerical_grad: upstream has shape \(3,\) but f returned shape \(2,\)"),
    (lambda: cr.gradcheck(lambda t: np.sum(t.data), np.ones(2)), TypeError,
     r"^gradcheck: f must return a Tensor .*got float64$"),
    (lambda: cr.hvp(lambda t: (t * t).sum(), np.ones(2), np.ones(3)), ValueError,
     r"^hvp: v has shape \(3,\) but x has shape \(2,\)"),
]


@pytest.mark.parametrize("call,exc,pattern", BAD_CALLS,
                         ids=[p.split(":")[0].strip("^") for _, _, p in BAD_CALLS])
def test_bad_call_gives_one_line_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert "\n" not in str(info.value)


def test_valid_axes_still_work_after_the_checks():
    """The checks reject only bad axes: negative, tuple and 0-d cases behave as in PyTorch/NumPy."""
    x = cr.tensor(X)
    np.testing.assert_array_equal(cr.sum(x, axis=(-1, 0)).data, X.sum())
    np.testing.assert_array_equal(x.unsqueeze(-1).shape, (3, 4, 1))
    np.testing.assert_array_equal(x.unsqueeze(2).shape, (3, 4, 1))
    assert cr.squeeze(cr.tensor(5.0), 0).shape == ()                  # 0-d accepts axis 0 and -1
    assert cr.moveaxis(cr.ones(2, 3, 4), 0, -1).shape == (3, 4, 2)
    assert cr.flatten(cr.ones(2, 3, 4), 1, -1).shape == (2, 12)
    assert [p.shape for p in cr.chunk(cr.ones(5, 2), 3)] == [(2, 2), (2, 2), (1, 2)]
    assert cr.outer(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0, 5.0])).tolist() == [[3, 4, 5], [6, 8, 10]]


def test_randint_accepts_pytorchs_spellings():
    cr.manual_seed(3)
    a = cr.randint(10, (4, 2))                     # randint(high, size)
    b = cr.randint(3, 5, (1000,))                  # randint(low, high, size)
    assert a.shape == (4, 2) and a.dtype == np.int64 and 0 <= a.data.min() and a.data.max() < 10
    assert set(np.unique(b.data)) == {3, 4}
