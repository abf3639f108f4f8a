"""cr.linalg and the products built on einsum: values as NumPy, gradients against numerical ones."""
import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = A @ A.T
WIDE = RNG.standard_normal((3, 5))
TALL = RNG.standard_normal((5, 3))


def t(a):
    return cr.tensor(a, dtype=np.float64, requires_grad=True)


GRADS = {
    "det": (lambda a: cr.linalg.det(a), [A]),
    "slogdet": (lambda a: cr.linalg.slogdet(a).logabsdet, [-A]),
    "inv": (lambda a: cr.linalg.inv(a), [A]),
    "solve": (lambda a, b: cr.linalg.solve(a, b), [A, TALL[:3]]),
    "cholesky_reads_lower": (lambda a: cr.linalg.cholesky(a), [np.tril(SPD) + 0.3 * np.triu(SPD, 1)]),
    "cholesky_upper": (lambda a: cr.linalg.cholesky(a, upper=True), [SPD]),
    "eigh_values": (lambda a: cr.linalg.eigh(a).eigenvalues, [np.tril(SPD) + np.triu(A, 1)]),
    "eigh_vectors_abs": (lambda a: abs(cr.linalg.eigh(a, UPLO="U").eigenvectors), [SPD]),
    "svd_tall": (lambda a: sum(abs(p).sum() for p in cr.linalg.svd(a, full_matrices=False)), [TALL]),
    "svd_wide": (lambda a: sum(abs(p).sum() for p in cr.linalg.svd(a, full_matrices=False)), [WIDE]),
    "svdvals": (lambda a: cr.linalg.svdvals(a), [WIDE]),
    "qr_tall": (lambda a: cr.linalg.qr(a).Q.sum() + cr.linalg.qr(a).R.sum(), [TALL]),
    "qr_wide": (lambda a: cr.linalg.qr(a).Q.sum() * 2 + cr.linalg.qr(a).R.sum(), [WIDE]),
    "pinv": (lambda a: cr.linalg.pinv(a), [WIDE]),
    "lstsq": (lambda a, b: cr.linalg.lstsq(a, b).solution, [TALL, RNG.standard_normal((5, 2))]),
    "norm_fro": (lambda a: cr.linalg.norm(a), [TALL]),
    "norm_nuc": (lambda a: cr.linalg.matrix_norm(a, "nuc"), [TALL]),
    "norm_2": (lambda a: cr.linalg.matrix_norm(a, 2), [TALL]),
    "norm_1": (lambda a: cr.linalg.matrix_norm(a, 1), [TALL]),
    "norm_inf": (lambda a: cr.linalg.norm(a, float("inf")), [TALL]),
    "vector_norm_3": (lambda a: cr.linalg.vector_norm(a, 3, dim=1), [TALL]),
    "tensordot": (lambda a, b: cr.tensordot(a, b, dims=([0, 1], [1, 0])), [TALL[:3, :2], TALL[:2, :3]]),
    "kron": (lambda a, b: cr.kron(a, b), [A[:2], TALL[:2, :2]]),
    "cross": (lambda a, b: cr.cross(a, b, dim=0), [TALL[:3], A[:, :1]]),
    "inner": (lambda a, b: cr.inner(a, b), [TALL, A]),
    "vdot": (lambda a, b: cr.vdot(a, b), [A[0], A[1]]),
    "np_vdot_flattens": (lambda a, b: np.vdot(a, b), [A, A.T.copy()]),
    "einsum_trace": (lambda a: cr.einsum("ii->", a), [A]),
    "einsum_diag_batch": (lambda a, b: cr.einsum("...ii,...i->...", a, b),
                          [RNG.standard_normal((2, 3, 3)), RNG.standard_normal((2, 3))]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_numerical(name):
    f, args = GRADS[name]
    assert cr.gradcheck(f, *[np.array(a, dtype=np.float64) for a in args])


@pytest.mark.parametrize("name", ["det", "inv", "solve", "eigh_values", "cholesky_upper", "pinv", "svdvals",
                                  "norm_nuc", "kron", "einsum_trace"])
def test_second_order(name):
    f, args = GRADS[name]
    assert cr.gradgradcheck(f, *[np.array(a, dtype=np.float64) for a in args])


def test_numpy_linalg_on_tensors_dispatches_with_numpy_semantics():
    checks = [
        (np.linalg.det, (A,), {}), (np.linalg.inv, (A,), {}), (np.linalg.solve, (A, TALL[:3, 0]), {}),
        (np.linalg.cholesky, (SPD,), {}), (np.linalg.eigvalsh, (SPD,), {"UPLO": "U"}),
        (np.linalg.pinv, (WIDE,), {}), (np.linalg.norm, (TALL,), {"ord": "nuc"}),
        (np.linalg.norm, (TALL,), {"ord": 1, "axis": 0, "keepdims": True}),
        (np.linalg.svd, (TALL,), {"compute_uv": False}), (np.tensordot, (TALL, TALL), {"axes": ([0], [0])}),
        (np.kron, (A, WIDE), {}), (np.inner, (TALL, A), {}), (np.vdot, (A, A), {}),
        (np.cross, (TALL, A[0]), {}), (np.cross, (TALL.T, A[0]), {"axisa": 0}),
        (np.einsum, ("...ij,...jk", TALL[None], A), {}),
    ]
    for fn, args, kw in checks:
        got = fn(*[cr.tensor(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args], **kw)
        assert isinstance(got, cr.Tensor), fn.__name__
        np.testing.assert_allclose(got.data, fn(*args, **kw), rtol=1e-10, atol=1e-12, err_msg=fn.__name__)
    sign, logabs = np.linalg.slogdet(cr.tensor(-A, dtype=np.float64))
    assert (sign.item(), logabs.item()) == pytest.approx(tuple(np.linalg.slogdet(-A)))
    x, res, rank, s = np.linalg.lstsq(cr.tensor(TALL, dtype=np.float64), cr.tensor(TALL[:, 0], dtype=np.float64))
    want = np.linalg.lstsq(TALL, TALL[:, 0])
    np.testing.assert_allclose(x.data, want[0], atol=1e-12)
    assert res.shape == want[1].shape and int(rank.item()) == want[2]


def test_decompositions_reconstruct_and_match_numpy():
    w, v = cr.linalg.eigh(t(SPD))
    np.testing.assert_allclose(w.data, np.linalg.eigvalsh(SPD))
    np.testing.assert_allclose((v * w[None, :] @ v.mT).data, SPD, atol=1e-10)
    u, s, vh = cr.linalg.svd(t(WIDE), full_matrices=False)
    np.testing.assert_allclose((u * s[None, :] @ vh).data, WIDE, atol=1e-12)
    q, r = cr.linalg.qr(t(WIDE))
    np.testing.assert_allclose((q @ r).data, WIDE, atol=1e-12)
    np.testing.assert_allclose(np.abs(r.data), np.abs(np.linalg.qr(WIDE)[1]), atol=1e-12)
    with pytest.raises(ValueError, match="full_matrices=False"):
        cr.linalg.svd(t(WIDE))
    u, s, vh = cr.linalg.svd(cr.tensor(WIDE, dtype=np.float64))
    assert u.shape == (3, 3) and vh.shape == (5, 5)
    with pytest.raises(ValueError, match=r"linalg.inv: expects square matrices .*\(3, 5\)"):
        cr.linalg.inv(WIDE)


def test_einsum_repeated_and_ellipsis_match_numpy():
    x = RNG.standard_normal((2, 3, 3))
    for spec in ("...ii->...i", "bii->b", "...ij->...ji", "bij,bjk", "ii->i"):
        ops = (x[0],) if spec == "ii->i" else ((x, x) if "," in spec else (x,))
        got = cr.einsum(spec, *[cr.tensor(o, dtype=np.float64) for o in ops])
        np.testing.assert_allclose(got.data, np.einsum(spec, *ops), err_msg=spec)
    got = np.einsum(cr.tensor(x, dtype=np.float64), [Ellipsis, 0, 0], [Ellipsis, 0])
    np.testing.assert_allclose(got.data, np.einsum(x, [Ellipsis, 0, 0], [Ellipsis, 0]))


TORCH_SAME = {   # GRADS entries whose PyTorch spelling differs only in the module
    "det": lambda t, a: t.linalg.det(a), "slogdet": lambda t, a: t.linalg.slogdet(a).logabsdet,
    "inv": lambda t, a: t.linalg.inv(a), "solve": lambda t, a, b: t.linalg.solve(a, b),
    "cholesky_reads_lower": lambda t, a: t.linalg.cholesky(a),
    "cholesky_upper": lambda t, a: t.linalg.cholesky(a, upper=True),
    "eigh_values": lambda t, a: t.linalg.eigh(a).eigenvalues,
    "svdvals": lambda t, a: t.linalg.svdvals(a), "pinv": lambda t, a: t.linalg.pinv(a),
    "lstsq": lambda t, a, b: t.linalg.lstsq(a, b).solution,
    "norm_fro": lambda t, a: t.linalg.norm(a), "norm_nuc": lambda t, a: t.linalg.matrix_norm(a, "nuc"),
    "norm_2": lambda t, a: t.linalg.matrix_norm(a, 2), "norm_1": lambda t, a: t.linalg.matrix_norm(a, 1),
    "norm_inf": lambda t, a: t.linalg.norm(a, float("inf")),
    "vector_norm_3": lambda t, a: t.linalg.vector_norm(a, 3, dim=1),
    "tensordot": lambda t, a, b: t.tensordot(a, b, dims=([0, 1], [1, 0])),
    "kron": lambda t, a, b: t.kron(a, b), "cross": lambda t, a, b: t.linalg.cross(a, b, dim=0),
    "inner": lambda t, a, b: t.inner(a, b), "vdot": lambda t, a, b: t.vdot(a, b),
    "eigh_vectors_abs": lambda t, a: abs(t.linalg.eigh(a, UPLO="U").eigenvectors),
    "svd_tall": lambda t, a: sum(abs(p).sum() for p in t.linalg.svd(a, full_matrices=False)),
    "svd_wide": lambda t, a: sum(abs(p).sum() for p in t.linalg.svd(a, full_matrices=False)),
    "qr_tall": lambda t, a: t.linalg.qr(a).Q.sum() + t.linalg.qr(a).R.sum(),
    "qr_wide": lambda t, a: t.linalg.qr(a).Q.sum() * 2 + t.linalg.qr(a).R.sum(), "einsum_trace": lambda t, a: t.einsum("ii->", a),
    "einsum_diag_batch": lambda t, a, b: t.einsum("...ii,...i->...", a, b),
}


@pytest.mark.parametrize("name", sorted(TORCH_SAME))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    f, args = GRADS[name]
    if name == "cross":
        args = [args[0], np.broadcast_to(args[1], args[0].shape).copy()]
    ts = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in args]
    outt = TORCH_SAME[name](torch, *ts)
    up = np.random.default_rng(1).standard_normal(tuple(outt.shape))
    outt.backward(torch.tensor(up))
    cs = [t(a) for a in args]
    outc = f(*cs)
    outc.backward(up)
    np.testing.assert_allclose(outc.data, outt.detach().numpy(), rtol=1e-7, atol=1e-10)
    for a, b in zip(cs, ts):
        g = a.grad.data
        if name.startswith(("cholesky", "eigh")):
            # both read one triangle; chainrule gives the derivative of what is read (gradcheck),
            # PyTorch its symmetric part: the same gradient on symmetric perturbations
            g = (g + g.T) / 2
        np.testing.assert_allclose(g, b.grad.numpy(), rtol=1e-7, atol=1e-10)
