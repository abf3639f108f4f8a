"""cr.save / cr.load: safetensors layout, bitwise round trips, and clear errors on bad files."""
import io
import json
import os
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import CheckpointError

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8, np.uint16,
          np.bool_]


def _random(dtype, shape, rng):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        a = (rng.standard_normal(shape) * 1e3).astype(dtype)
        if a.size > 3:
            a.flat[:3] = [np.nan, np.inf, -0.0]
        return a
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def _bitwise_equal(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_round_trip_is_bitwise(tmp_path, dtype):
    rng = np.random.default_rng(0)
    for shape in [(), (0,), (7,), (3, 4, 5)]:
        t = cr.Tensor._make(_random(dtype, shape, rng), False)
        path = tmp_path / "t.safetensors"
        cr.save(t, path)
        back = cr.load(path)
        assert isinstance(back, cr.Tensor) and _bitwise_equal(back.data, t.data)
        assert back.data.flags.writeable and back.data.flags.owndata


def test_file_is_valid_safetensors(tmp_path):
    """Read the file back with an independent minimal parser of the published layout."""
    sd = {"fc1.weight": cr.randn(4, 3), "fc1.bias": cr.zeros(4, dtype=np.float64),
          "steps": cr.tensor([1, 2, 3])}
    cr.save(sd, tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert set(header) == {"fc1.weight", "fc1.bias", "steps", "__metadata__"}
    assert header["fc1.weight"]["dtype"] == "F32" and header["fc1.weight"]["shape"] == [4, 3]
    assert header["steps"]["dtype"] == "I64"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    b, e = header["fc1.weight"]["data_offsets"]
    w = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(4, 3)
    np.testing.assert_array_equal(w, sd["fc1.weight"].data)
    # and the dict comes back with the same keys, in the same order
    back = cr.load(tmp_path / "m.safetensors")
    assert list(back) == list(sd)


def test_plain_safetensors_file_loads_as_name_to_tensor(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    header = json.dumps({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}).encode()
    (tmp_path / "p.safetensors").write_bytes(len(header).to_bytes(8, "little") + header
                                             + a.tobytes())
    back = cr.load(tmp_path / "p.safetensors")
    assert list(back) == ["a"] and _bitwise_equal(back["a"].data, a)


def test_nested_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    ck = {"model": {"0.weight": cr.randn(5, 4), "0.bias": cr.randn(5), "bn.num_batches_tracked":
                    cr.tensor(7)},
          "optimizer": {"state": {0: {"step": cr.tensor(3.0), "exp_avg": cr.randn(5, 4),
                                      "exp_avg_sq": cr.rand(5, 4)},
                                  1: {"step": cr.tensor(3.0), "exp_avg": cr.randn(5),
                                      "exp_avg_sq": cr.rand(5)}},
                        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                          "weight_decay": 0.0, "amsgrad": False,
                                          "params": [0, 1], "maximize": None}]},
          "epoch": 3, "loss": float("nan"), "best": float("-inf"), "name": "mlp", "tags": [],
          "raw": rng.standard_normal((2, 2)), "big": 2 ** 62, "half": np.float32(0.5)}
    cr.save(ck, tmp_path / "ck.pt")
    back = cr.load(tmp_path / "ck.pt")
    assert back.keys() == ck.keys()
    assert back["optimizer"]["state"].keys() == {0, 1}   # int keys stay ints
    for k in ("step", "exp_avg", "exp_avg_sq"):
        assert _bitwise_equal(back["optimizer"]["state"][1][k].data,
                              ck["optimizer"]["state"][1][k].data)
    g = back["optimizer"]["param_groups"][0]
    assert g == {**ck["optimizer"]["param_groups"][0]} and isinstance(g["betas"], tuple)
    for k, v in ck["model"].items():
        assert _bitwise_equal(back["model"][k].data, v.data)
    assert back["epoch"] == 3 and np.isnan(back["loss"]) and back["best"] == float("-inf")
    assert back["name"] == "mlp" and back["tags"] == [] and back["big"] == 2 ** 62
    assert isinstance(back["raw"], np.ndarray) and _bitwise_equal(back["raw"], ck["raw"])
    assert type(back["half"]) is np.float32 and back["half"] == 0.5


def test_colliding_dotted_names_stay_distinct(tmp_path):
    obj = {"a.b": cr.ones(2), "a": {"b": cr.zeros(2)}}
    cr.save(obj, tmp_path / "c.pt")
    back = cr.load(tmp_path / "c.pt")
    np.testing.assert_array_equal(back["a.b"].data, [1, 1])
    np.testing.assert_array_equal(back["a"]["b"].data, [0, 0])


def test_requires_grad_and_streams():
    w = cr.randn(3, requires_grad=True)
    buf = io.BytesIO()
    cr.save({"w": w}, buf)
    buf.seek(0)
    back = cr.load(buf)["w"]
    assert back.requires_grad and back.is_leaf and _bitwise_equal(back.data, w.data)


def test_save_refuses_unstorable_objects(tmp_path):
    with pytest.raises(TypeError, match=r"cr.save: cannot store a object at a.0"):
        cr.save({"a": [object()]}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="complex"):
        cr.save(np.zeros(2, dtype=np.complex64), tmp_path / "x.pt")
    assert not os.listdir(tmp_path)   # nothing written, no temp file left behind


def test_save_is_atomic_old_file_survives_a_failed_save(tmp_path):
    path = tmp_path / "ck.pt"
    cr.save({"w": cr.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        cr.save({"w": cr.zeros(3), "bad": {1, 2}}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ck.pt"]


def _good(tmp_path):
    path = tmp_path / "good.pt"
    cr.save({"w": cr.randn(4, 3), "b": cr.randn(4), "epoch": 2}, path)
    return path.read_bytes()


def _header(raw):
    n = int.from_bytes(raw[:8], "little")
    return n, json.loads(raw[8:8 + n])


def _with_header(raw, header):
    n = int.from_bytes(raw[:8], "little")
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + raw[8 + n:]


def _corruptions(raw):
    n, h = _header(raw)
    wrong_offsets = json.loads(json.dumps(h))
    wrong_offsets["b"]["data_offsets"][1] += 4
    hole = json.loads(json.dumps(h))
    first = min((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
    hole[first]["data_offsets"] = [4, h[first]["data_offsets"][1] + 4]
    bad_dtype = json.loads(json.dumps(h))
    bad_dtype["w"]["dtype"] = "Q7"
    bad_shape = json.loads(json.dumps(h))
    bad_shape["w"]["shape"] = [5, 3]
    bad_struct = json.loads(json.dumps(h))
    bad_struct["__metadata__"]["chainrule.structure"] = '{"D":[["w",{"T":"nope"}]]}'
    flipped = bytearray(raw)
    flipped[8] ^= 0xFF   # the header's opening brace
    return {
        "truncated data": (raw[:-5], "out of range|trailing or missing"),
        "truncated header": (raw[: 8 + n // 2], "header length"),
        "too short": (raw[:5], "too short"),
        "empty": (b"", "too short"),
        "huge length": ((10 ** 15).to_bytes(8, "little") + raw[8:], "header length"),
        "flipped header byte": (bytes(flipped), "not valid UTF-8 JSON"),
        "wrong offsets": (_with_header(raw, wrong_offsets), "bytes for dtype|out of range"),
        "hole": (_with_header(raw, hole), "expected 0|out of range|bytes for dtype"),
        "unknown dtype": (_with_header(raw, bad_dtype), "unknown or unsupported dtype 'Q7'"),
        "shape vs bytes": (_with_header(raw, bad_shape), "expected 60"),
        "trailing bytes": (raw + b"\0" * 8, "trailing or missing"),
        "bad structure": (_with_header(raw, bad_struct), "nope"),
        "pickle": (pickle.dumps({"w": [1.0, 2.0]}), "pickle"),
    }


@pytest.mark.parametrize("case", ["truncated data", "truncated header", "too short", "empty",
                                  "huge length", "flipped header byte", "wrong offsets", "hole",
                                  "unknown dtype", "shape vs bytes", "trailing bytes",
                                  "bad structure", "pickle"])
def test_bad_files_raise_one_clear_error(tmp_path, case):
    raw, pattern = _corruptions(_good(tmp_path))[case]
    path = tmp_path / "bad.pt"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match=pattern) as info:
        cr.load(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_every_single_truncation_is_caught(tmp_path):
    raw = _good(tmp_path)
    path = tmp_path / "cut.pt"
    for cut in range(0, len(raw), 7):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            cr.load(path)


def test_pickle_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="never unpickles"):
        cr.load(path)
    assert not (tmp_path / "pwned").exists()


def test_save_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.save(cr.ones(2), tmp_path / "nope" / "x.pt")


def test_saved_file_has_normal_permissions(tmp_path):
    cr.save(cr.ones(2), tmp_path / "x.pt")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.pt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_interoperates_with_the_reference_safetensors_library(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(2)
    sd = {"fc.weight": cr.randn(3, 5), "fc.bias": cr.tensor(rng.standard_normal(3)),
          "count": cr.tensor([1, 2, 3]), "mask": cr.tensor([True, False]),
          "h": cr.Tensor._make(rng.standard_normal(4).astype(np.float16), False)}
    cr.save(sd, tmp_path / "ours.safetensors")
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    assert set(theirs) == set(sd)
    for k, v in sd.items():
        assert _bitwise_equal(theirs[k], v.data)
    arrays = {k: v.data for k, v in sd.items()}
    st.save_file(arrays, str(tmp_path / "ref.safetensors"), metadata={"format": "np"})
    back = cr.load(tmp_path / "ref.safetensors")
    assert set(back) == set(sd)
    for k, v in sd.items():
        assert _bitwise_equal(back[k].data, v.data)


def test_random_nested_objects_round_trip():
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    hnp = pytest.importorskip("hypothesis.extra.numpy")
    arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
                        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    leaves = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats()
              | st.text(max_size=5) | arrays.map(lambda a: cr.Tensor._make(a, False)))
    tree = st.recursive(leaves, lambda kids: st.lists(kids, max_size=3)
                        | st.tuples(kids, kids)
                        | st.dictionaries(st.text(max_size=3) | st.integers(0, 5), kids,
                                          max_size=3), max_leaves=12)

    def same(a, b):
        if isinstance(a, cr.Tensor):
            return isinstance(b, cr.Tensor) and _bitwise_equal(a.data, b.data)
        if isinstance(a, float):
            return isinstance(b, float) and (a == b or (np.isnan(a) and np.isnan(b)))
        if isinstance(a, (list, tuple)):
            return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        return type(a) is type(b) and a == b

    @hyp.settings(max_examples=60, deadline=None)
    @hyp.given(tree)
    def check(obj):
        buf = io.BytesIO()
        cr.save(obj, buf)
        buf.seek(0)
        assert same(obj, cr.load(buf))

    check()
