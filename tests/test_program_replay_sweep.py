"""Every primitive: a gradient Program traced at one input gives eager's gradient at another.

A backward rule that computes something from input data outside primitives (an arg-max, a mask,
a sort order) would be baked into the traced program as a constant and silently stay the trace's;
replaying the program on fresh inputs finds it.
"""
import numpy as np
import pytest

import chainrule as cr
from helpers import build_sample, primitive_cases

CASES = primitive_cases()


@pytest.mark.parametrize("prim,sample", CASES)
def test_gradient_program_replays_on_new_inputs(prim, sample):
    arrays_a, f = build_sample(prim, sample, np.random.default_rng(0))
    arrays_b, _ = build_sample(prim, sample, np.random.default_rng(1))
    out = np.asarray(f(*arrays_a))
    if out.dtype.kind != "f":
        pytest.skip(f"{prim.name}: output is {out.dtype}")
    w = np.random.default_rng(2).standard_normal(out.shape)

    def loss(*ts):
        return (f(*ts) * w).sum()

    prog = cr.make_program(loss, *[cr.tensor(a, dtype=a.dtype) for a in arrays_a])
    replay = prog.grad()(*arrays_b)
    leaves = [cr.tensor(b, dtype=b.dtype, requires_grad=True) for b in arrays_b]
    expect = loss(*leaves)
    expect.backward()
    np.testing.assert_allclose(np.asarray(replay[0]), expect.data, rtol=1e-10, atol=1e-12)
    for k, (got, leaf) in enumerate(zip(replay[1:], leaves)):
        np.testing.assert_allclose(np.asarray(got), leaf.grad.data, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{prim.name}: gradient of input {k}")
