"""Pooling and resizing: the max gate's routing and ties, closed forms, and PyTorch as the oracle
(float64, rtol 1e-7) for forward and gradients when it is installed."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

RTOL = 1e-7


def _t(a, grad=True):
    return cr.tensor(a, dtype=np.float64, requires_grad=grad)


def test_max_pool_routes_gradient_to_first_max_on_ties():
    x = _t(np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]]]]))
    out = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.data, [[[[3.0, 5.0]]]])
    out.sum().backward()
    # the first 3 (row-major in the window) and the first 5 get the gradient, not the ties
    np.testing.assert_array_equal(x.grad.data, [[[[0, 1, 0, 0], [0, 0, 1, 0]]]])


def test_max_pool_overlapping_windows_add_gradients_and_return_indices():
    x = _t(np.array([[[0.0, 4.0, 1.0, 2.0, 9.0]]]))
    out, idx = F.max_pool1d(x, 3, stride=1, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[4.0, 4.0, 9.0]]])
    np.testing.assert_array_equal(idx.data, [[[1, 1, 4]]])
    out.backward(np.array([[[1.0, 2.0, 3.0]]]))
    np.testing.assert_array_equal(x.grad.data, [[[0, 3, 0, 0, 3]]])


def test_avg_and_adaptive_pool_closed_forms(rng):
    x = rng.standard_normal((2, 3, 6, 4))
    np.testing.assert_allclose(F.avg_pool2d(_t(x, False), 2).data,
                               x.reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(_t(x, False), 1).data,
                               x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_max_pool2d(_t(x, False), (1, 1)).data,
                               x.max(axis=(2, 3), keepdims=True), rtol=1e-12)


def test_pixel_shuffle_round_trip_and_upsample_nearest(rng):
    x = rng.standard_normal((2, 8, 3, 4))
    y = F.pixel_shuffle(_t(x, False), 2)
    assert y.shape == (2, 2, 6, 8)
    np.testing.assert_array_equal(y.data[0, 1, 2 * 1 + 1, 2 * 3 + 0], x[0, 1 * 4 + 2, 1, 3])
    np.testing.assert_array_equal(F.pixel_unshuffle(y, 2).data, x)
    up = cr.nn.Upsample(scale_factor=2)(_t(x, False))
    np.testing.assert_array_equal(up.data, x.repeat(2, axis=2).repeat(2, axis=3))


def test_pool_errors_are_one_line():
    with pytest.raises(ValueError, match="padding .* at most half of kernel_size"):
        F.max_pool2d(cr.randn(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: expected 4-D input"):
        F.max_pool2d(cr.randn(4, 4), 2)


# ---------------------------------------------------------------- PyTorch oracle

def _compare(cr_fn, torch_fn, x, rng):
    torch = pytest.importorskip("torch")
    xc = _t(x)
    xt = torch.tensor(x, requires_grad=True)
    oc, ot = cr_fn(xc), torch_fn(xt)
    np.testing.assert_allclose(oc.data, ot.detach().numpy(), rtol=RTOL, atol=1e-12)
    up = rng.standard_normal(oc.shape)
    oc.backward(up)
    ot.backward(torch.tensor(up))
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=RTOL, atol=1e-12)


def _pool_configs(seed, n, with_dilation):
    rng = np.random.default_rng(seed)
    cfgs = []
    while len(cfgs) < n:
        nd = int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        p = tuple(int(rng.integers(0, ki // 2 + 1)) for ki in k)
        d = tuple(int(v) for v in rng.integers(1, 3, nd)) if with_dilation else (1,) * nd
        size = tuple(int(v) for v in rng.integers(3, 9, nd))
        if any(sz + 2 * pi - di * (ki - 1) - 1 < 0 for sz, pi, di, ki in zip(size, p, d, k)):
            continue
        cfgs.append(dict(nd=nd, k=k, s=s, p=p, d=d, size=size, ceil=bool(rng.random() < 0.5),
                         n=int(rng.choice([1, 2])), c=int(rng.choice([1, 3])), flag=bool(rng.random() < 0.5)))
    return cfgs


def _ident(c):
    return f"{c['nd']}d-k{c['k']}-s{c['s']}-p{c['p']}-d{c['d']}-ceil{int(c['ceil'])}-f{int(c['flag'])}"


@pytest.mark.parametrize("cfg", _pool_configs(3, 14, True), ids=_ident)
def test_max_pool_matches_torch(cfg, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((cfg["n"], cfg["c"]) + cfg["size"])
    if cfg["flag"]:
        x = np.round(x)   # many ties: the first maximum must win, as in PyTorch
    kw = dict(kernel_size=cfg["k"], stride=cfg["s"], padding=cfg["p"], dilation=cfg["d"], ceil_mode=cfg["ceil"])
    name = f"max_pool{cfg['nd']}d"
    _compare(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(torch.nn.functional, name)(a, **kw), x, rng)
    _, ic = getattr(F, name)(_t(x, False), return_indices=True, **kw)
    _, it = getattr(torch.nn.functional, name)(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(ic.data, it.numpy())


@pytest.mark.parametrize("cfg", _pool_configs(4, 10, False), ids=_ident)
def test_avg_pool_matches_torch(cfg, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((cfg["n"], cfg["c"]) + cfg["size"])
    kw = dict(kernel_size=cfg["k"], stride=cfg["s"], padding=cfg["p"], ceil_mode=cfg["ceil"],
              count_include_pad=cfg["flag"])
    name = f"avg_pool{cfg['nd']}d"
    _compare(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(torch.nn.functional, name)(a, **kw), x, rng)


@pytest.mark.parametrize("size,out", [((7,), (3,)), ((5, 7), (3, 4)), ((6, 6), (4, 1)), ((4, 5), (4, 5))])
def test_adaptive_pools_match_torch(size, out, rng):
    torch = pytest.importorskip("torch")
    x = np.round(rng.standard_normal((2, 3) + size) * 2)   # with ties
    nd = len(size)
    o = out[0] if nd == 1 else out
    for name in (f"adaptive_avg_pool{nd}d", f"adaptive_max_pool{nd}d"):
        _compare(lambda a: getattr(F, name)(a, o), lambda a: getattr(torch.nn.functional, name)(a, o), x, rng)


@pytest.mark.parametrize("mode,align,kw", [("nearest", None, dict(scale_factor=2)),
                                            ("nearest", None, dict(size=(5, 3))),
                                            ("nearest-exact", None, dict(size=(7, 2))),
                                            ("bilinear", False, dict(scale_factor=1.7)),
                                            ("bilinear", True, dict(size=(7, 9))),
                                            ("bilinear", False, dict(size=(3, 2))),
                                            ("area", None, dict(size=(3, 5)))])
def test_interpolate_matches_torch(mode, align, kw, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 6))
    args = dict(kw, mode=mode, align_corners=align)
    _compare(lambda a: F.interpolate(a, **args), lambda a: torch.nn.functional.interpolate(a, **args), x, rng)
    x1 = rng.standard_normal((1, 2, 5))
    if mode == "bilinear":
        args1 = dict(mode="linear", align_corners=align, size=7)
        _compare(lambda a: F.interpolate(a, **args1), lambda a: torch.nn.functional.interpolate(a, **args1),
                 x1, rng)


def test_pool_modules_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 6, 6))
    for name, args in (("MaxPool2d", (3, 2, 1)), ("AvgPool2d", (3, 2, 1)), ("AdaptiveAvgPool2d", ((2, 3),)),
                       ("AdaptiveMaxPool2d", (2,)), ("PixelShuffle", (2,)), ("UpsamplingBilinear2d", (None, 2))):
        _compare(getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args), x, rng)
