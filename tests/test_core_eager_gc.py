"""What a recorded graph leaves for the cyclic collector: one tracked object per node (edges live
in the node's slots, stand-in tuples are shared), and the engine paths that made this so."""
import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule import autograd
from chainrule.autograd import Meta, Node
from chainrule.ops.base import REGISTRY


def _x(n=10):
    return cr.tensor(np.linspace(-1.0, 1.0, n), requires_grad=True, dtype=np.float64)


def _tracked_per_op(build, ops):
    build()   # warm: Metas, interned pairs
    gc.collect()
    before = len(gc.get_objects())
    keep = build()
    gc.collect()
    per_op = (len(gc.get_objects()) - before) / ops
    return per_op, keep


def test_a_w5_chain_keeps_one_tracked_object_per_node():
    x0 = _x()

    def chain():
        x = x0
        for _ in range(500):
            x = x + 0.01 * cr.tanh(x)
        return x
    per_op, y = _tracked_per_op(chain, 1500)
    assert per_op < 1.02, per_op   # the Node itself; no edges tuple, no inputs tuple
    y.sum().backward()
    # d/dx of x + 0.01 tanh(x), 500 times: the chain rule by hand
    x, d = x0.data.copy(), np.ones(10)
    for _ in range(500):
        d = d * (1 + 0.01 * (1 - np.tanh(x) ** 2))
        x = x + 0.01 * np.tanh(x)
    np.testing.assert_allclose(x0.grad.data, d, rtol=1e-12)


def test_scalar_constants_share_one_inputs_tuple_per_constant_and_side():
    x = _x()
    a, b = 0.01 * x, 0.01 * x
    assert a.grad_fn.inputs is b.grad_fn.inputs is a.grad_fn.arrays
    assert a.grad_fn.inputs[0] == 0.01 and isinstance(a.grad_fn.inputs[1], Meta)
    c, d = x * 3, x * 3
    assert c.grad_fn.inputs is d.grad_fn.inputs and c.grad_fn.inputs[1] == 3
    assert c.grad_fn.inputs is not a.grad_fn.inputs
    h = 2.0 ** x   # pow keeps what its rules read: still correct
    (a + c + h).sum().backward()
    np.testing.assert_allclose(x.grad.data, 0.01 + 3 + np.log(2.0) * 2.0 ** x.data, rtol=1e-12)


def test_a_constant_computed_per_call_does_not_pile_up():
    x = _x()
    m = (x * (1.0 / 3.0)).grad_fn.inputs[0]
    for i in range(500):
        x * (1.0 / (i + 7))
    assert len(m.rhs) <= 64


def test_same_valued_constants_of_another_type_or_sign_are_not_confused():
    x = _x()
    # 1 == 1.0 and 0.0 == -0.0: interning by identity keeps each constant as written
    nodes = [(x * c).grad_fn for c in (1, 1.0, 0.0, -0.0)]
    kept = [n.inputs[1] for n in nodes]
    assert [type(k) for k in kept] == [int, float, float, float]
    assert np.signbit(kept[3]) and not np.signbit(kept[2])
    y = x * -0.0
    y.sum().backward()
    assert np.all(np.signbit(x.grad.data))


@pytest.mark.parametrize("n_inputs", [1, 2, 3, 5])
def test_edges_and_next_functions_per_arity(n_inputs):
    x = _x(4)
    c = cr.tensor(np.ones(4))   # no gradient: its edge is None
    if n_inputs == 1:
        y = cr.exp(x)
        want = [x]
    elif n_inputs == 2:
        y = x * c
        want = [x, None]
    elif n_inputs == 3:
        h = x * 2.0
        y = cr.where(c > 0, h, x)
        want = [None, h.grad_fn, x]
    else:
        h = cr.tanh(x)
        y = cr.stack([x, c, h, x, c])
        want = [x, None, h.grad_fn, x, None]
    edges = y.grad_fn.edges
    assert type(edges) is tuple and len(edges) == len(want)
    assert all(e is w for e, w in zip(edges, want))
    assert y.grad_fn.next_functions == edges
    y.sum().backward()
    assert x.grad is not None


def test_edges_can_be_set_as_a_tuple():
    x = _x(3)
    node = (x * 2.0).grad_fn
    node.edges = (None, None)
    assert node.edges == (None, None) and node.e0 is None


def test_backward_order_with_the_latest_node_kept_out_of_the_heap():
    # a node with two pending producers: whichever edge comes first, the later-made one runs first
    x = _x(5)
    seen = []
    for swap in (False, True):
        a = cr.tanh(x)          # made first
        b = cr.exp(x) * 0.5     # made later
        s = (b + a) if swap else (a + b)
        seen.clear()
        autograd.run_backward([s.sum()], [np.ones(())],
                              observer=lambda node, g, grads: seen.append(node.seq))
        assert seen == sorted(seen, reverse=True)
    np.testing.assert_allclose(x.grad.data, 2 * (1 - np.tanh(x.data) ** 2 + 0.5 * np.exp(x.data)),
                               rtol=1e-12)


def test_large_fan_in_is_still_added_in_place():
    x = cr.tensor(np.ones(autograd._INPLACE_MIN), requires_grad=True, dtype=np.float64)
    h = x * 1.0
    y = (cr.tanh(h) + cr.sin(h) + h).sum()   # h's node gets three gradients
    y.backward()
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh(1.0) ** 2 + np.cos(1.0) + 1, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((7,), None), ((3, 5), 1), ((3, 5), -2), ((2, 3, 4), (0, 2)),
                                         ((1000,), 0), ((33, 17, 5), None)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_forward_gives_numpys_bits(dtype, shape, axis, keepdims):
    x = (np.random.default_rng(1).standard_normal(shape) * 10).astype(dtype)
    got = REGISTRY["mean"].forward(x, axis=axis, keepdims=keepdims)
    want = np.mean(x, axis=axis, keepdims=keepdims)
    assert type(got) is type(want) and got.dtype == want.dtype
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_mean_forward_other_dtypes_and_empty():
    assert REGISTRY["mean"].forward(np.arange(5)).dtype == np.float64
    h = REGISTRY["mean"].forward(np.ones(3, np.float16))
    assert h.dtype == np.float16 and h == 1
    assert np.isnan(REGISTRY["mean"].forward(np.ones((0,), np.float32)))


def test_nodes_are_nodes():
    y = cr.exp(_x(2))
    assert type(y.grad_fn) is Node and y.grad_fn.name == "exp"
