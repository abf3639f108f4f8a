"""Viz shows every intermediate value although nodes of shape-only ops (add, relu, sum, ...) no
longer keep their inputs: the values are replayed from the leaves."""
import io
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Meta
from chainrule.viz import explain, node_grads, to_dot
from chainrule.viz.trace import Graph
from helpers import Square


def test_mlp_values_are_replayed_and_match_numpy(rng):
    cr.set_default_dtype(np.float64)   # the fixture restores it
    x = cr.tensor(rng.standard_normal((5, 3)))
    W1 = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b1 = cr.tensor(rng.standard_normal(4), requires_grad=True)
    W2 = cr.tensor(rng.standard_normal((1, 4)), requires_grad=True)
    z = cr.nn.functional.linear(x, W1, b1)
    a = cr.relu(z)
    out = cr.tanh(a @ W2.T).sum()
    relu = a.grad_fn
    assert isinstance(relu.arrays[0], Meta)               # z itself is not kept by the graph
    g = Graph(out)
    z_np = x.data @ W1.data.T + b1.data
    a_np = np.maximum(z_np, 0)
    np.testing.assert_allclose(g.value(z.grad_fn), z_np, rtol=1e-12)
    np.testing.assert_allclose(g.arrays(relu)[0], z_np, rtol=1e-12)
    np.testing.assert_allclose(g.value(relu), a_np, rtol=1e-12)
    # gradients at every node, from the replayed values, against the closed form
    t = np.tanh(a_np @ W2.data.T)
    ga = (1 - t * t) @ W2.data
    gz = ga * (z_np > 0)
    grads = node_grads(out, params={"W1": W1, "b1": b1, "W2": W2})
    np.testing.assert_allclose(grads["W1"], gz.T @ x.data, rtol=1e-10)
    np.testing.assert_allclose(grads["b1"], gz.sum(0), rtol=1e-10)
    np.testing.assert_allclose(grads["W2"], (1 - t * t).T @ a_np, rtol=1e-10)
    # and the drawing carries z's summary on the edge into relu
    src = to_dot(out, params={"W1": W1, "b1": b1, "W2": W2})
    assert f"{z_np.min():.2f}" in src and f"{z_np.max():.2f}" in src


def test_scalar_chain_of_shape_only_ops_explained_with_values():
    x = cr.tensor(0.5, requires_grad=True, dtype=cr.float64, name="x")
    y = cr.tensor(-1.5, requires_grad=True, dtype=cr.float64, name="y")
    s = x + y                  # -1.0, kept by nobody: neg keeps only its shape
    out = cr.exp(-s) * y       # L = e^-(x+y) · y
    text = explain(out, file=io.StringIO())
    e = np.exp(1.0)
    # exp's upstream is y, its local gradient e^1 (replayed value of -s is 1.0), sent on to neg
    assert re.search(rf"exp\s+\[-1\.50\] × \[.*{e:.2f}\] → dL/ds\d = {-1.5 * e:.2f}", text), text
    # dL/dx = -e·y,  dL/dy = e - e·y
    assert f"dL/dx = {-e * -1.5:.2f}" in text and f"dL/dy = {e - e * -1.5:.2f}" in text


def test_user_function_output_is_replayed_for_a_shape_only_consumer(rng):
    x = cr.tensor(rng.standard_normal(4), requires_grad=True, dtype=cr.float64, name="x")
    sq = Square.apply(cr.sin(x))
    out = sq.sum()                                       # sum keeps only sq's shape
    assert isinstance(out.grad_fn.arrays[0], Meta)
    g = Graph(out)
    np.testing.assert_allclose(g.value(sq.grad_fn), np.sin(x.data) ** 2, rtol=1e-12)
    grads = node_grads(out)
    np.testing.assert_allclose(grads["x"], 2 * np.sin(x.data) * np.cos(x.data), rtol=1e-12)


def test_freed_graph_still_says_it_was_freed():
    x = cr.tensor([1.0, -2.0], requires_grad=True, name="x")
    out = cr.relu(x * 3).sum()
    out.backward()
    g = Graph(out)
    assert g.freed and g.arrays(out.grad_fn) is None


def test_partly_freed_graph_draws_what_survives():
    x = cr.tensor([1.0, -2.0], requires_grad=True, name="x")
    s = x + 0.5
    a = cr.relu(s)
    a.sum().backward()                       # frees the add and relu nodes
    w = cr.tensor(3.0, requires_grad=True)
    out = (a * w).sum()
    g = Graph(out)
    assert g.freed
    np.testing.assert_allclose(g.value(a.grad_fn), [1.5, 0.0])   # mul kept a itself (dw reads it)
    assert g.value(s.grad_fn) is None         # only the freed relu node read it
    with pytest.warns(UserWarning, match="freed"):
        src = to_dot(out)
    assert "1.50" in src
