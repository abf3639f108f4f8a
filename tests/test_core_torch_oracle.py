"""PyTorch as an optional oracle: same values and gradients, including at kinks and ties."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.shape import fill_index

torch = pytest.importorskip("torch")

# Inputs with ties and values exactly on kinks (0, clamp bounds), where conventions matter.
X = np.array([[0.0, 1.0, 1.0, -2.0], [3.0, -0.5, 0.5, 3.0], [-1.0, 2.0, 0.0, 0.25]])

CASES = {
    "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x),
    "clamp": lambda m, x: m.clamp(x, -0.5, 0.5),
    "maximum_tie": lambda m, x: m.maximum(x, x[:, :1] * 0 + 1.0),
    "amax_ties": lambda m, x: m.amax(x, dim=1),
    "max_all_ties": lambda m, x: x.max(),
    "max_dim_values": lambda m, x: x.max(dim=1)[0],
    "var_default": lambda m, x: x.var(dim=1),
    "std_default": lambda m, x: x.std(dim=0),
    "softmax": lambda m, x: m.softmax(x, dim=1),
    "log_softmax": lambda m, x: m.log_softmax(x, dim=0),
    "logsumexp": lambda m, x: m.logsumexp(x, dim=1),
    "norm": lambda m, x: m.norm(x),
    "transpose01": lambda m, x: x.transpose(0, 1) @ x,
    "gather": lambda m, x: m.gather(x, 1, _idx(m)),
    "sigmoid_tanh": lambda m, x: m.sigmoid(x) * m.tanh(x),
    "leaky_relu": lambda m, x: _leaky(m, x),
    "elu": lambda m, x: _elu(m, x),
    "softplus": lambda m, x: _softplus(m, x),
    "pow_int": lambda m, x: x ** 3,
    "prod_with_zero": lambda m, x: m.prod(x, dim=1),
    "where": lambda m, x: m.where(x > 0.5, x * 2, -x),
    "index_repeat": lambda m, x: x[[0, 0, 2]],
    "flatten_view": lambda m, x: x.flatten().view(4, 3)[1:, ::2],
}


def _idx(m):
    idx = [[0, 0], [3, 1], [2, 2]]
    return torch.tensor(idx) if m is torch else cr.tensor(idx)


def _leaky(m, x):
    return torch.nn.functional.leaky_relu(x, 0.2) if m is torch else cr.leaky_relu(x, 0.2)


def _elu(m, x):
    return torch.nn.functional.elu(x, 1.5) if m is torch else cr.elu(x, 1.5)


def _softplus(m, x):
    return torch.nn.functional.softplus(x) if m is torch else cr.softplus(x)


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_pytorch(name):
    f = CASES[name]
    xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    yt = f(torch, xt)
    up = np.random.default_rng(0).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(up))
    xc = cr.tensor(X, dtype=np.float64, requires_grad=True)
    yc = f(cr, xc)
    yc.backward(up)
    np.testing.assert_allclose(yc.data, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_cross_entropy_matches_pytorch():
    logits = np.random.default_rng(1).standard_normal((5, 4))
    y = np.array([0, 3, 3, 1, 2])
    for reduction in ("mean", "sum", "none"):
        lt = torch.tensor(logits, requires_grad=True)
        outt = torch.nn.functional.cross_entropy(lt, torch.tensor(y), reduction=reduction)
        up = np.ones(tuple(outt.shape))
        outt.backward(torch.tensor(up))
        lc = cr.tensor(logits, dtype=np.float64, requires_grad=True)
        outc = cr.ops.REGISTRY["cross_entropy"](lc, y, reduction=reduction)
        outc.backward(up)
        np.testing.assert_allclose(outc.data, outt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(lc.grad.data, lt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- the registry against PyTorch
# primitive name -> fn(torch, inputs, params): the same computation in PyTorch. The coverage table
# (python -m chainrule.ops.coverage) reads these keys: an op listed here is "PyTorch-checked".
def _dims(p):
    a = p.get("axis")
    return {} if a is None else {"dim": a, "keepdim": bool(p.get("keepdims", False))}


def _red(name):
    def f(t, x, p):
        x = x[0]
        if p.get("axis") is None:
            return getattr(t, name)(x)
        return getattr(t, name)(x, **_dims(p))
    return f


def _ext(name):   # max/min over axes: torch.amax/amin (max(dim) returns indices too)
    def f(t, x, p):
        if p.get("axis") is None:
            return getattr(t, name)(x[0])
        return getattr(t, name)(x[0], **_dims(p))
    return f


TORCH = {
    "abs": lambda t, x, p: t.abs(x[0]), "add": lambda t, x, p: x[0] + x[1],
    "sub": lambda t, x, p: x[0] - x[1], "mul": lambda t, x, p: x[0] * x[1],
    "div": lambda t, x, p: x[0] / x[1], "neg": lambda t, x, p: -x[0],
    "pow": lambda t, x, p: x[0] ** x[1], "exp": lambda t, x, p: t.exp(x[0]),
    "log": lambda t, x, p: t.log(x[0]), "log1p": lambda t, x, p: t.log1p(x[0]),
    "sqrt": lambda t, x, p: t.sqrt(x[0]), "sin": lambda t, x, p: t.sin(x[0]),
    "cos": lambda t, x, p: t.cos(x[0]), "tanh": lambda t, x, p: t.tanh(x[0]),
    "sigmoid": lambda t, x, p: t.sigmoid(x[0]), "relu": lambda t, x, p: t.relu(x[0]),
    "softplus": lambda t, x, p: t.nn.functional.softplus(x[0], **p),
    "elu": lambda t, x, p: t.nn.functional.elu(x[0], p.get("alpha", 1.0)),
    "leaky_relu": lambda t, x, p: t.nn.functional.leaky_relu(x[0], p.get("negative_slope", 0.01)),
    "maximum": lambda t, x, p: t.maximum(x[0], x[1]), "minimum": lambda t, x, p: t.minimum(x[0], x[1]),
    "matmul": lambda t, x, p: t.matmul(x[0], x[1]),
    "einsum": lambda t, x, p: t.einsum(p["subscripts"], *x),
    "sum": _red("sum"), "mean": _red("mean"), "prod": lambda t, x, p: (
        t.prod(x[0]) if p.get("axis") is None or isinstance(p.get("axis"), tuple) and False
        else t.prod(x[0], p["axis"], bool(p.get("keepdims", False)))),
    "logsumexp": lambda t, x, p: t.logsumexp(x[0], **(_dims(p) or {"dim": tuple(range(x[0].ndim))})),
    "max": _ext("amax"), "min": _ext("amin"),
    "softmax": lambda t, x, p: t.softmax(x[0], p.get("axis", -1)),
    "log_softmax": lambda t, x, p: t.log_softmax(x[0], p.get("axis", -1)),
    "inv": lambda t, x, p: t.linalg.inv(x[0]), "det": lambda t, x, p: t.linalg.det(x[0]),
    "logabsdet": lambda t, x, p: t.linalg.slogdet(x[0])[1],
    "solve": lambda t, x, p: (t.linalg.solve(x[0], x[1][:, None])[..., 0] if x[1].ndim == 1
                              else t.linalg.solve(x[0], x[1])),
    "cholesky": lambda t, x, p: t.linalg.cholesky((x[0] + x[0].mT) / 2),
    "pinv": lambda t, x, p: t.linalg.pinv(x[0]),
    "transpose": lambda t, x, p: x[0].permute(*(p.get("axes") or range(x[0].ndim)[::-1])),
    "reshape": lambda t, x, p: x[0].reshape(p["shape"]),
    "broadcast_to": lambda t, x, p: x[0].broadcast_to(p["shape"]),
    "where": lambda t, x, p: t.where(x[0].bool(), x[1], x[2]),
    "clip": lambda t, x, p: t.clamp(x[0], p.get("min"), p.get("max")),
    "concatenate": lambda t, x, p: t.cat(x, dim=p.get("axis", 0)),
    "linear": lambda t, x, p: t.nn.functional.linear(*x),
    "cross_entropy": lambda t, x, p: t.nn.functional.cross_entropy(
        x[0], x[1].long(), reduction=p.get("reduction", "mean"),
        ignore_index=-100 if p.get("ignore_index") is None else p["ignore_index"]),
    "pad": lambda t, x, p: t.nn.functional.pad(
        x[0], [int(v) for pair in reversed(p["pad_width"]) for v in pair], value=p.get("value", 0.0)),
    "sign": lambda t, x, p: t.sign(x[0]),
    "norm": lambda t, x, p: t.linalg.vector_norm(x[0], dim=p.get("axis"),
                                                  keepdim=bool(p.get("keepdims", False))),
    "getitem": lambda t, x, p: x[0][_torch_index(t, fill_index(p["index"], x))],
    "embedding": lambda t, x, p: t.nn.functional.embedding(x[1], x[0]),
}


def _torch_index(t, index):
    def one(i):
        return t.tensor(i) if isinstance(i, np.ndarray) else i
    return tuple(one(i) for i in index) if isinstance(index, tuple) else one(index)


def _registry_cases():
    from chainrule.ops import REGISTRY
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(TORCH) if name in REGISTRY
            for k in range(len(REGISTRY[name].samples))]


@pytest.mark.parametrize("name,k", _registry_cases())
def test_registry_primitive_matches_pytorch(name, k):
    """Values and gradients of each mapped primitive on each of its samples, float64, rtol 1e-7."""
    from chainrule.ops import REGISTRY
    from helpers import build_sample
    prim = REGISTRY[name]
    sample = prim.samples[k]
    if prim.name == "prod" and isinstance(sample.params.get("axis"), tuple):
        pytest.skip("torch.prod reduces one dim at a time")
    arrays, f = build_sample(prim, sample, np.random.default_rng(k))
    out = f(*[cr.Tensor._make(a, True) for a in arrays])
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    it = iter(ts)
    ins = [next(it) if isinstance(i, (tuple, cr.ops.At)) else
           (None if i is None else torch.tensor(np.asarray(i))) for i in sample.inputs]
    outt = TORCH[name](torch, ins, sample.params)
    np.testing.assert_allclose(out.data, outt.detach().numpy(), rtol=1e-7, atol=1e-12)
    up = np.random.default_rng(99).standard_normal(out.shape)
    leaves = [cr.Tensor._make(a, True) for a in arrays]
    y = f(*leaves)
    y.backward(up)
    outt = TORCH[name](torch, ins, sample.params)
    outt.backward(torch.tensor(up))
    for a, b in zip(leaves, ts):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-7, atol=1e-10)
