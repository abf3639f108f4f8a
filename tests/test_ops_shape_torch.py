"""Scans, sorting, layout and the scatter family against PyTorch: values, gradients and dtypes
(float64, rtol 1e-7). Skipped without torch."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X34 = RNG.standard_normal((3, 4))
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.0, 0.0, 0.0, 5.0]])
ZEROS = np.array([[0.0, 2.0, 3.0, 0.5], [1.5, 0.0, 0.0, 4.0], [2.0, -1.0, 0.5, 0.0]])
IDX = np.array([[2, 0, 1, 2], [0, 0, 2, 1]])
SRC = RNG.standard_normal((2, 4))


def _c(v):
    return cr.tensor(v, dtype=np.float64, requires_grad=True) if np.asarray(v).dtype.kind == "f" \
        else cr.tensor(v)


def _t(v):
    v = np.asarray(v)
    return torch.tensor(v, dtype=torch.float64, requires_grad=True) if v.dtype.kind == "f" \
        else torch.tensor(v)


def _outs(o):
    if isinstance(o, (tuple, list)):
        return [p for q in o for p in _outs(q)]
    return [o]


def _compare(f_cr, f_torch, *inputs):
    ci, ti = [_c(v) for v in inputs], [_t(v) for v in inputs]
    co, to = _outs(f_cr(*ci)), _outs(f_torch(*ti))
    assert len(co) == len(to)
    w = []
    for a, b in zip(co, to):
        b_np = b.detach().numpy()
        assert a.shape == tuple(b.shape), (a.shape, b.shape)
        assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
        np.testing.assert_allclose(a.data, b_np, rtol=1e-7, atol=1e-12)
        if b.dtype.is_floating_point:
            w.append(RNG.standard_normal(b.shape) if b.ndim else np.array(RNG.standard_normal()))
    floats = [(c, t) for c, t in zip(ci, ti) if t.dtype.is_floating_point]
    if not w or not floats:
        return
    fo = [(a, b) for a, b in zip(co, to) if b.dtype.is_floating_point]
    lc = sum(((a * cr.tensor(wi, dtype=np.float64)).sum() for (a, _), wi in zip(fo, w)), cr.tensor(0.0, dtype=np.float64))
    lt = sum(((b * torch.tensor(wi)).sum() for (_, b), wi in zip(fo, w)), torch.tensor(0.0, dtype=torch.float64))
    gc = cr.autograd.grad(lc, [c for c, _ in floats], allow_unused=True)
    gt = torch.autograd.grad(lt, [t for _, t in floats], allow_unused=True)
    for a, b in zip(gc, gt):
        a = np.zeros(b.shape) if a is None and b is not None else (None if a is None else np.asarray(getattr(a, "data", a)))
        if b is None:
            assert a is None or not np.any(a)
        else:
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-7, atol=1e-12)


CASES = {
    "cumsum": (lambda x: cr.cumsum(x, dim=1), lambda x: torch.cumsum(x, dim=1), X34),
    "cumsum_0d": (lambda x: cr.cumsum(x, dim=0), lambda x: torch.cumsum(x, dim=0), np.array(2.0)),
    "cumsum_int": (lambda x: cr.cumsum(x, dim=0), lambda x: torch.cumsum(x, dim=0), np.array([1, 2, 3])),
    "cumprod": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), X34),
    "cumprod_zeros": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), ZEROS),
    "cumprod_zeros_dim0": (lambda x: x.cumprod(0), lambda x: x.cumprod(0), ZEROS),
    "cummax": (lambda x: cr.cummax(x, 1), lambda x: torch.cummax(x, 1), TIES),
    "cummin": (lambda x: cr.cummin(x, 0), lambda x: torch.cummin(x, 0), TIES),
    "logcumsumexp": (lambda x: cr.logcumsumexp(x, 1), lambda x: torch.logcumsumexp(x, 1), X34),
    "sort": (lambda x: x.sort(1), lambda x: x.sort(dim=1, stable=True), TIES),
    "sort_desc": (lambda x: x.sort(0, descending=True), lambda x: x.sort(dim=0, descending=True, stable=True), TIES),
    "argsort": (lambda x: cr.argsort(x, 1), lambda x: torch.argsort(x, dim=1, stable=True), TIES),
    "topk": (lambda x: x.topk(2), lambda x: x.topk(2), X34),
    "topk_small": (lambda x: x.topk(2, dim=0, largest=False), lambda x: x.topk(2, dim=0, largest=False), X34),
    "kthvalue": (lambda x: x.kthvalue(2, 1), lambda x: x.kthvalue(2, 1), X34),
    "kthvalue_keep": (lambda x: x.kthvalue(3, 0, keepdim=True), lambda x: x.kthvalue(3, 0, keepdim=True), X34),
    "median": (lambda x: x.median(), lambda x: x.median(), X34),
    "median_dim": (lambda x: x.median(1), lambda x: x.median(1), X34),
    "mode": (lambda x: x.mode(1).values, lambda x: x.mode(1).values, TIES),
    "amax_multi": (lambda x: x.amax((0, 1)), lambda x: x.amax((0, 1)), TIES),
    "max_dim": (lambda x: x.max(dim=1), lambda x: x.max(dim=1), X34),
    "flip": (lambda x: x.flip((0, 1)), lambda x: x.flip((0, 1)), X34),
    "fliplr": (cr.fliplr, torch.fliplr, X34),
    "flipud": (cr.flipud, torch.flipud, X34),
    "roll": (lambda x: cr.roll(x, (1, -2), (0, 1)), lambda x: torch.roll(x, (1, -2), (0, 1)), X34),
    "roll_flat": (lambda x: cr.roll(x, 5), lambda x: torch.roll(x, 5), X34),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), X34),
    "tile": (lambda x: cr.tile(x, (2,)), lambda x: torch.tile(x, (2,)), X34),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1), lambda x: x.repeat_interleave(2, dim=1), X34),
    "repeat_interleave_t": (lambda x: cr.repeat_interleave(x, cr.tensor([1, 0, 3]), dim=0),
                            lambda x: torch.repeat_interleave(x, torch.tensor([1, 0, 3]), dim=0), X34),
    "repeat_interleave_flat": (lambda x: cr.repeat_interleave(x, 2), lambda x: torch.repeat_interleave(x, 2), X34),
    "tril": (lambda x: cr.tril(x, -1), lambda x: torch.tril(x, -1), X34),
    "triu": (lambda x: x.triu(1), lambda x: x.triu(1), X34),
    "diag_2d": (lambda x: cr.diag(x, 1), lambda x: torch.diag(x, 1), X34),
    "diag_1d": (lambda x: cr.diag(x, -1), lambda x: torch.diag(x, -1), X34[0]),
    "diagonal": (lambda x: cr.diagonal(x, -1), lambda x: torch.diagonal(x, -1), X34),
    "diagonal_3d": (lambda x: cr.diagonal(x, 0, 0, 2), lambda x: torch.diagonal(x, 0, 0, 2), RNG.standard_normal((3, 2, 3))),
    "diag_embed": (lambda x: cr.diag_embed(x, 1), lambda x: torch.diag_embed(x, 1), X34),
    "diag_embed_dims": (lambda x: cr.diag_embed(x, 0, 0, 2), lambda x: torch.diag_embed(x, 0, 0, 2), X34),
    "trace": (cr.trace, torch.trace, X34),
    "unflatten": (lambda x: x.unflatten(1, (2, -1)), lambda x: x.unflatten(1, (2, -1)), X34),
    "unfold": (lambda x: x.unfold(1, 2, 1), lambda x: x.unfold(1, 2, 1), X34),
    "unfold_step": (lambda x: x.unfold(0, 2, 2), lambda x: x.unfold(0, 2, 2), X34),
    "meshgrid": (lambda a, b: cr.meshgrid(a, b, indexing="ij"), lambda a, b: torch.meshgrid(a, b, indexing="ij"), X34[0], X34[1, :3]),
    "meshgrid_xy": (lambda a, b: cr.meshgrid(a, b, indexing="xy"), lambda a, b: torch.meshgrid(a, b, indexing="xy"), X34[0], X34[1, :3]),
    "narrow": (lambda x: x.narrow(1, 1, 2), lambda x: x.narrow(1, 1, 2), X34),
    "select": (lambda x: x.select(1, -1), lambda x: x.select(1, -1), X34),
    "index_select": (lambda x: x.index_select(1, cr.tensor([3, 0, 3])), lambda x: x.index_select(1, torch.tensor([3, 0, 3])), X34),
    "masked_select": (lambda x: x.masked_select(cr.tensor([True, False, True, True])),
                      lambda x: x.masked_select(torch.tensor([True, False, True, True])), X34),
    "nonzero": (lambda x: cr.nonzero(x), lambda x: torch.nonzero(x), ZEROS),
    "nonzero_tuple": (lambda x: cr.nonzero(x, as_tuple=True), lambda x: torch.nonzero(x, as_tuple=True), ZEROS),
    "movedim": (lambda x: cr.movedim(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)), RNG.standard_normal((2, 3, 4))),
    "vstack": (lambda a, b: cr.vstack([a, b]), lambda a, b: torch.vstack([a, b]), X34[0], X34[1]),
    "hstack": (lambda a, b: cr.hstack([a, b]), lambda a, b: torch.hstack([a, b]), X34, X34),
    "dstack": (lambda a, b: cr.dstack([a, b]), lambda a, b: torch.dstack([a, b]), X34, X34),
    "column_stack": (lambda a, b: cr.column_stack([a, b]), lambda a, b: torch.column_stack([a, b]), X34[0], X34.T),
    "atleast_3d": (cr.atleast_3d, torch.atleast_3d, X34),
    "atleast_2d_0d": (cr.atleast_2d, torch.atleast_2d, np.array(1.5)),
    "chunk": (lambda x: x.chunk(3, 1), lambda x: x.chunk(3, 1), X34),
    "tensor_split": (lambda x: x.tensor_split(3, 1), lambda x: x.tensor_split(3, 1), X34),
    "tensor_split_idx": (lambda x: x.tensor_split([1, 5], 1), lambda x: x.tensor_split([1, 5], 1), X34),
    "pad_reflect": (lambda x: F.pad(x, (2, 1), mode="reflect"), lambda x: torch.nn.functional.pad(x, (2, 1), mode="reflect"), X34),
    "pad_replicate": (lambda x: F.pad(x[None], (1, 2, 2, 0), mode="replicate"),
                      lambda x: torch.nn.functional.pad(x[None], (1, 2, 2, 0), mode="replicate"), X34),
    "pad_circular": (lambda x: F.pad(x[None], (1, 2), mode="circular"),
                     lambda x: torch.nn.functional.pad(x[None], (1, 2), mode="circular"), X34),
    "pad_negative": (lambda x: F.pad(x, (-1, 2, 1, -2)), lambda x: torch.nn.functional.pad(x, (-1, 2, 1, -2)), X34),
    "scatter": (lambda x, s: x.scatter(0, cr.tensor(IDX[:, :3]), s), lambda x, s: x.scatter(0, torch.tensor(IDX[:, :3]), s), X34, SRC[:, :3]),
    "scatter_value": (lambda x: x.scatter(1, cr.tensor(IDX[:, :2] % 4), value=2.5), lambda x: x.scatter(1, torch.tensor(IDX[:, :2] % 4), value=2.5), X34),
    "scatter_add": (lambda x, s: x.scatter_add(0, cr.tensor(IDX), s), lambda x, s: x.scatter_add(0, torch.tensor(IDX), s), X34, SRC),
    "index_add": (lambda x, s: x.index_add(0, cr.tensor([2, 2]), s, alpha=2.0),
                  lambda x, s: x.index_add(0, torch.tensor([2, 2]), s, alpha=2.0), X34, SRC),
    "index_copy": (lambda x, s: x.index_copy(0, cr.tensor([2, 0]), s), lambda x, s: x.index_copy(0, torch.tensor([2, 0]), s), X34, SRC),
    "index_fill": (lambda x: x.index_fill(1, cr.tensor([0, 3]), -1.0), lambda x: x.index_fill(1, torch.tensor([0, 3]), -1.0), X34),
    "masked_fill": (lambda x: x.masked_fill(cr.tensor([True, False, False, True]), 0.5),
                    lambda x: x.masked_fill(torch.tensor([True, False, False, True]), 0.5), X34),
    "masked_fill_t": (lambda x, v: x.masked_fill(cr.tensor(ZEROS == 0), v), lambda x, v: x.masked_fill(torch.tensor(ZEROS == 0), v), X34, np.array(0.7)),
    "masked_scatter": (lambda x, s: x.masked_scatter(cr.tensor(ZEROS > 0), s),
                       lambda x, s: x.masked_scatter(torch.tensor(ZEROS > 0), s), X34, SRC),
    "take": (lambda x: x.take(cr.tensor([[0, 11], [-1, 3]])), lambda x: x.take(torch.tensor([[0, 11], [-1, 3]])), X34),
    "put": (lambda x, s: x.put(cr.tensor([1, 5]), s[0, :2]), lambda x, s: x.put(torch.tensor([1, 5]), s[0, :2]), X34, SRC),
    "put_acc": (lambda x, s: x.put(cr.tensor([1, 1]), s[0, :2], accumulate=True),
                lambda x, s: x.put(torch.tensor([1, 1]), s[0, :2], accumulate=True), X34, SRC),
}
for _r in ("sum", "prod", "mean", "amax", "amin"):
    for _inc in (True, False):
        CASES[f"scatter_reduce_{_r}_{_inc}"] = (
            (lambda r, inc: lambda x, s: x.scatter_reduce(0, cr.tensor(IDX), s, r, include_self=inc))(_r, _inc),
            (lambda r, inc: lambda x, s: x.scatter_reduce(0, torch.tensor(IDX), s, r, include_self=inc))(_r, _inc),
            # include_self=False: no tie between x and src (PyTorch then still counts x in the tie
            # and halves src's gradient although x takes no part)
            (TIES if _inc else X34) if _r in ("amax", "amin") else ZEROS, np.array([[3.0, 3.0, 0.0, 5.0], [0.0, 2.0, 3.0, 2.0]]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    f_cr, f_t, *inputs = CASES[name]
    _compare(f_cr, f_t, *inputs)


def test_unique_matches_torch():
    v = np.array([[3, 1, 2], [1, 3, 3]])
    a = cr.unique(cr.tensor(v), return_inverse=True, return_counts=True)
    b = torch.unique(torch.tensor(v), return_inverse=True, return_counts=True)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.numpy())
        assert str(p.dtype) == str(q.dtype).replace("torch.", "")


@pytest.mark.parametrize("name", ["scatter_", "scatter_add_", "index_add_", "index_fill_",
                                  "masked_fill_", "put_"])
def test_inplace_variants_match_torch_and_bump_version(name):
    args_cr = {"scatter_": (0, cr.tensor(IDX[:, :4]), None), "scatter_add_": (0, cr.tensor(IDX), None),
               "index_add_": (0, cr.tensor([1, 1]), None), "index_fill_": (1, cr.tensor([2]), -3.0),
               "masked_fill_": (cr.tensor([True, False, True, False]), 4.0),
               "put_": (cr.tensor([0, 7]), None)}[name]
    src = SRC if name != "put_" else SRC[0, :2]
    xs = cr.tensor(X34, dtype=np.float64, requires_grad=True)
    ss = cr.tensor(src, dtype=np.float64, requires_grad=True)
    xt = torch.tensor(X34, requires_grad=True)
    st = torch.tensor(src, requires_grad=True)
    conv = [a.data if isinstance(a, cr.Tensor) else a for a in args_cr]
    ac = [ss if a is None else a for a in args_cr]
    at = [st if a is None else (torch.tensor(a) if isinstance(a, np.ndarray) else a) for a in conv]
    yc, yt = xs * 2, xt * 2
    v0 = yc._version
    getattr(yc, name)(*ac)
    getattr(yt, name)(*at)
    assert yc._version > v0
    np.testing.assert_allclose(yc.data, yt.detach().numpy(), rtol=1e-7)
    w = RNG.standard_normal(X34.shape)
    (yc * cr.tensor(w, dtype=np.float64)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-7)
    if st.grad is not None:
        np.testing.assert_allclose(ss.grad, st.grad.numpy(), rtol=1e-7)
