"""Empty tensors, numerics at the edges, NumPy warnings: behave as PyTorch (issue: hostile inputs)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import chainrule as cr


def test_empty_reductions_and_softmax():
    assert cr.logsumexp(cr.ones(0), axis=0).item() == -np.inf
    s = cr.softmax(cr.ones(0, 3), dim=0)
    assert s.shape == (0, 3)
    x = cr.ones(0, 3, requires_grad=True)
    m = x.mean()
    m.backward()
    assert np.isnan(m.item()) and x.grad.shape == (0, 3)


def test_max_of_an_empty_tensor_is_a_one_line_error_naming_op_and_shape():
    with pytest.raises(ValueError) as e:
        cr.ones(0).max()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("max:") and "(0,)" in msg


def test_linear_with_zero_inputs_works():
    with pytest.warns(UserWarning, match="zero-element"):
        lin = cr.nn.Linear(0, 3)
    out = lin(cr.ones(2, 0))
    np.testing.assert_array_equal(out.data, np.broadcast_to(lin.bias.data, (2, 3)))


def test_softplus_gradient_keeps_precision_far_left():
    x = cr.tensor([-40.0, -30.0, 0.0], dtype=cr.float64, requires_grad=True)
    cr.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 / (1 + np.exp(-x.data)), rtol=1e-12)
    assert x.grad.data[0] > 4e-18


def test_numpy_warnings_do_not_leak_from_chainrule_ops():
    code = ("import chainrule as cr; import numpy as np\n"
            "cr.log(cr.tensor([-1.0])); cr.sqrt(cr.tensor([-1.0])); cr.tensor([1.0]) / 0\n"
            "x = cr.tensor([0.0], requires_grad=True); cr.sqrt(x).sum().backward()\n"
            "np.log(np.array([-1.0]))\n")   # the user's own NumPy call still warns
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "chainrule" not in r.stderr
    assert r.stderr.count("RuntimeWarning") == 1 and "<string>" in r.stderr


def test_anomaly_mode_still_names_the_op():
    with cr.detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        cr.tensor([-1.0], requires_grad=True).log()


def test_reading_grad_of_a_non_leaf_warns_once_with_the_fix():
    x = cr.tensor([1.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.grad is None          # once per tensor
        z = x * 3
        z.retain_grad()
        z.sum().backward()
        assert z.grad is not None      # retained: no warning


@pytest.mark.parametrize("call,op", [
    (lambda: cr.ones(0).argmax(), "argmax"), (lambda: cr.ones(0, 3).max(dim=0), "max"),
    (lambda: cr.stack([]), "stack"),
    (lambda: cr.gather(cr.ones(2, 3), 1, cr.tensor([[5]])), "gather"),
    (lambda: cr.take_along_axis(cr.ones(2, 3), np.array([[5]]), 1), "take_along_axis")])
def test_empty_and_out_of_range_errors_name_their_op_in_one_line(call, op):
    with pytest.raises((ValueError, IndexError)) as e:
        call()
    assert str(e.value).startswith(op + ":") and "\n" not in str(e.value)


def test_var_and_std_of_empty_are_nan():
    assert np.isnan(cr.var(cr.ones(0)).item()) and np.isnan(cr.std(cr.ones(0)).item())


def test_flatten_of_empty_tensors_keeps_the_merged_size():
    """With an empty axis, reshape's -1 is ambiguous: flatten computes the merged size itself."""
    for shape, a, b, want in [((0, 3, 4), 1, -1, (0, 12)), ((2, 0, 4), 1, 2, (2, 0)),
                              ((2, 3, 0), 0, 1, (6, 0)), ((0,), 0, -1, (0,))]:
        x = cr.ones(*shape, requires_grad=True)
        y = cr.flatten(x, a, b)
        assert y.shape == want
        y.sum().backward()
        assert x.grad.shape == shape
