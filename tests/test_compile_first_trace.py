"""What the first (tracing) call of cr.compile leaves behind, now that it skips work: a `.grad`
takes its traced gradient's array without a copy only when no other tensor holds that array."""
import numpy as np

import chainrule as cr


def _steps(body_of):
    out = []
    for _ in range(2):
        a = cr.tensor(np.arange(1.0, 5.0), requires_grad=True)
        b = cr.tensor(np.arange(5.0, 9.0), requires_grad=True)
        out.append((a, b, body_of(a, b)))
    eager = out[0]
    comp = out[1][:2] + (cr.compile(out[1][2], fuse=False),)
    return eager, comp


def test_shared_upstream_gradient_gives_separate_grad_arrays():
    """(a + b).sum(): the add gate hands one gradient to both leaves; their .grad must still be
    two arrays, so changing one in place (as a user may between calls) leaves the other."""
    def body_of(a, b):
        def step():
            loss = (a + b).sum()
            loss.backward()
            return loss
        return step
    (a1, b1, eager), (a2, b2, comp) = _steps(body_of)
    for k in range(3):
        assert eager().item() == comp().item()
        np.testing.assert_array_equal(a2.grad.data, a1.grad.data)
        np.testing.assert_array_equal(b2.grad.data, b1.grad.data)
        assert not np.shares_memory(a2.grad.data, b2.grad.data)
        a1.grad.data[0] += 10.0 * (k + 1)
        a2.grad.data[0] += 10.0 * (k + 1)
        np.testing.assert_array_equal(b2.grad.data, b1.grad.data)


def test_gradient_that_is_an_input_is_copied():
    """(a + b).backward(c): the add gate hands c's own array to both leaves; .grad must be a
    copy, not c (it accumulates in place over the calls)."""
    c = cr.tensor(np.array([3.0, -1.0, 2.0, 0.5]))

    def body_of(a, b):
        def step():
            y = a + b
            y.backward(c)
            return y
        return step
    (a1, b1, eager), (a2, b2, comp) = _steps(body_of)
    for _ in range(3):   # no zero_grad: .grad accumulates, as in eager code
        np.testing.assert_array_equal(comp().data, eager().data)
        np.testing.assert_array_equal(a2.grad.data, a1.grad.data)
        np.testing.assert_array_equal(b2.grad.data, b1.grad.data)
    assert not np.shares_memory(a2.grad.data, c.data)
    assert not np.shares_memory(b2.grad.data, c.data)
    np.testing.assert_array_equal(c.data, [3.0, -1.0, 2.0, 0.5])
    np.testing.assert_array_equal(a2.grad.data, 3 * c.data)
