"""Composite functions (losses, selections, sorts): a Program or compiled step traced on one input
gives eager's value and gradient on another. Masks, arg-maxes and sort orders must be equations,
not the first trace's constants."""
import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional
pytestmark = pytest.mark.usefixtures("kernel_cache")
W = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
CASES = {
    "huber": lambda x, t: F.huber_loss(x, t),
    "smooth_l1": lambda x, t: F.smooth_l1_loss(x, t),
    "kl_div": lambda x, t: F.kl_div(F.log_softmax(x, dim=1), F.relu(t), reduction="batchmean"),
    "cosine_embedding": lambda x, t: F.cosine_embedding_loss(x, t, cr.sign(t[:, 0])),
    "nll_weight": lambda x, t: F.nll_loss(F.log_softmax(x, dim=1), t.argmax(dim=1),
                                          weight=cr.tensor(W)),
    "ce_argmax": lambda x, t: F.cross_entropy(x, t.argmax(dim=1)),
    "max_dim": lambda x, t: (x.max(dim=1)[0] * t[:, 0]).sum(),
    "min_dim": lambda x, t: (x.min(dim=0)[0] * t[0]).sum(),
    "sort": lambda x, t: (cr.sort(x, dim=1, descending=True)[0] * t).sum(),
    "topk": lambda x, t: (cr.topk(x, 2, dim=1)[0] * t[:, :2]).sum(),
    "median": lambda x, t: (x.median(dim=1)[0] * t[:, 0]).sum(),
    "kthvalue": lambda x, t: (cr.kthvalue(x, 3, dim=0)[0] * t[0]).sum(),
    "argmax_gather": lambda x, t: (cr.gather(x, 1, t.argmax(dim=1, keepdim=True)) ** 2).sum(),
    "cummax": lambda x, t: (cr.cummax(x, dim=1)[0] * t).sum(),
    "cummin": lambda x, t: (cr.cummin(x, dim=0)[0] * t).sum(),
    "nansum": lambda x, t: (cr.nansum(cr.where(t > 1.0, float("nan"), x) * t)),
    "mode": lambda x, t: (cr.mode(cr.round(x), dim=1)[0] * t[:, 0]).sum(),
}


def _draw(k):
    rng = np.random.default_rng(k)
    return [cr.tensor(rng.standard_normal((6, 4)).astype(np.float32)) for _ in range(2)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_traced_program_and_compiled_step_follow_new_inputs(name):
    fn = CASES[name]
    draws = [_draw(k) for k in range(3)]
    prog = cr.make_program(fn, *draws[0])
    grad = prog.grad(wrt=[prog.inputs[0].name])
    step = cr.compile(fn)
    for x, t in draws + draws:
        want = fn(x, t).item()
        xg = x.detach().requires_grad_()
        fn(xg, t).backward()
        assert abs(step(x, t).item() - want) <= 1e-5 * max(1.0, abs(want)), name
        value, gx = grad(x.data, t.data)
        assert abs(float(value) - want) <= 1e-5 * max(1.0, abs(want)), name
        np.testing.assert_allclose(np.asarray(gx), xg.grad.data, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_attention_masks_given_per_call_are_read_every_call():
    cr.manual_seed(0)
    mha = cr.nn.MultiheadAttention(8, 2, batch_first=True)
    q = cr.tensor(np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32))
    pad = [np.array([[False] * 5, [False] * 3 + [True] * 2]),
           np.array([[False] * 4 + [True], [False] * 5])]
    causal = [np.tril(np.ones((5, 5), bool)), np.ones((5, 5), bool)]
    fns = [(lambda m: mha(q, q, q, key_padding_mask=m)[0].sum(), pad),
           (lambda m: F.scaled_dot_product_attention(q, q, q, attn_mask=m).sum(), causal)]
    for fn, masks in fns:
        step = cr.compile(fn)
        for m in masks * 2:
            t = cr.tensor(m)
            want = fn(t).item()
            assert abs(step(t).item() - want) <= 1e-5 * max(1.0, abs(want))
