"""cr.save / cr.load: tensors, state dicts and checkpoints in the safetensors format, never pickle.

A file is an 8-byte little-endian header length N, N bytes of JSON header, then the raw bytes of
every tensor (row-major, little-endian). The header maps each tensor name to its dtype, shape and
[begin, end) byte range; `__metadata__` is a string→string map. chainrule stores everything that is
not a tensor (ints, floats, strings, None, lists, tuples, dict nesting and key types) as JSON in
`__metadata__["chainrule.structure"]`, so `cr.load` gives back the object that was saved, while any
safetensors reader sees the tensors under dotted names ("model.fc1.weight",
"optimizer.state.0.exp_avg").
Plain safetensors files (e.g. from `safetensors.numpy.save_file`) load as {name: Tensor}.
"""
from __future__ import annotations

import io as _io
import json
import math
import os
import tempfile
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

MAX_HEADER = 100 << 20   # the reference implementation's limit on the JSON header
_STRUCT_KEY = "chainrule.structure"

_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
           "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64,
           "F16": np.float16, "F32": np.float32, "F64": np.float64}
_DTYPES = {k: np.dtype(v).newbyteorder("<") for k, v in _DTYPES.items()}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}


class CheckpointError(ValueError):
    """A file given to cr.load is not valid safetensors (truncated, corrupted, not safetensors)."""


# ---------------------------------------------------------------------------------------- save

class _Encoder:
    """Turns a nested object into a JSON skeleton plus a {name: ndarray} map of its tensors."""

    def __init__(self):
        self.arrays = {}

    def name(self, path):
        base = ".".join(path) or "tensor"
        name, i = base, 1
        while name in self.arrays or name == "__metadata__":
            name, i = f"{base}#{i}", i + 1
        return name

    def array(self, arr, path, tag, extra=None):
        arr = np.asarray(arr)
        if np.dtype(arr.dtype).newbyteorder("=") not in _CODES:
            raise TypeError(f"cr.save: tensor at {'.'.join(path) or '<root>'} has dtype "
                            f"{arr.dtype}, which safetensors cannot hold; expected one of "
                            f"bool, (u)int8/16/32/64, float16/32/64")
        name = self.name(path)
        self.arrays[name] = arr
        node = {tag: name}
        if extra:
            node.update(extra)
        return node

    def encode(self, obj, path=(), depth=0):
        if depth > 100:
            raise ValueError("cr.save: object nested more than 100 levels deep (a cycle?)")
        if isinstance(obj, Tensor):
            return self.array(obj.data, path, "T", {"rg": True} if obj.requires_grad else None)
        if isinstance(obj, np.ndarray):
            return self.array(obj, path, "A")
        if isinstance(obj, np.generic):
            return self.array(np.asarray(obj), path, "N")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            # JSON has no nan/inf; floats are written with repr, which round-trips exactly
            return obj if math.isfinite(obj) else {"F": repr(obj)}
        if isinstance(obj, (list, tuple)):
            items = [self.encode(v, path + (str(i),), depth + 1) for i, v in enumerate(obj)]
            return {"L" if isinstance(obj, list) else "U": items}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise TypeError(f"cr.save: dict key {k!r} at {'.'.join(path) or '<root>'} has "
                                    f"type {type(k).__name__}; expected str, int, float or bool")
                items.append([self.encode(k, path, depth + 1) if isinstance(k, float) else k,
                              self.encode(v, path + (str(k),), depth + 1)])
            return {"D": items}
        raise TypeError(f"cr.save: cannot store a {type(obj).__name__} at "
                        f"{'.'.join(path) or '<root>'}; expected tensors, arrays, numbers, "
                        f"strings, None, lists, tuples and dicts (use model.state_dict(), not "
                        f"the model)")


def _serialize(obj) -> bytes:
    enc = _Encoder()
    skeleton = enc.encode(obj)
    # Widest dtypes first so that every tensor starts aligned to its itemsize (as safetensors does).
    names = sorted(enc.arrays, key=lambda k: -enc.arrays[k].dtype.itemsize)
    header, chunks, offset = {}, [], 0
    for name in names:
        arr = enc.arrays[name]
        code = _CODES[np.dtype(arr.dtype).newbyteorder("=")]
        raw = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "chainrule",
                              _STRUCT_KEY: json.dumps(skeleton, separators=(",", ":"),
                                                      allow_nan=False)}
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)   # pad so the data buffer starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def save(obj, f) -> None:
    """Save tensors / (nested) state dicts to a safetensors file, atomically (temp file + rename).

    obj may nest dicts, lists and tuples of Tensors, ndarrays, numbers, strings and None:

    >>> cr.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ck.pt")
    >>> ck = cr.load("ck.pt"); model.load_state_dict(ck["model"])
    """
    data = _serialize(obj)
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cr.save: folder {folder} does not exist (create it first)")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)   # mkstemp makes the file 0600; give it the usual umask permissions
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------------------------- load

def _sniff(raw: bytes) -> str:
    if raw[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return " (it looks like a pickle file, e.g. from torch.save or pickle.dump; chainrule " \
               "never unpickles: save with cr.save or safetensors)"
    if raw[:4] == b"PK\x03\x04":
        return " (it looks like a zip archive, e.g. a torch.save checkpoint; chainrule never " \
               "unpickles: save with cr.save or safetensors)"
    if raw[:6] == b"\x93NUMPY":
        return " (it looks like a NumPy .npy file; load it with np.load)"
    return ""


def _parse(raw: bytes, err):
    """Validate everything about the file before any array is made; return (arrays, metadata)."""
    if len(raw) < 8:
        raise err(f"file is {len(raw)} bytes, too short for the 8-byte header length"
                  f"{_sniff(raw)}")
    n = int.from_bytes(raw[:8], "little")
    if n < 2 or n > MAX_HEADER or 8 + n > len(raw):
        raise err(f"header length {n} is invalid for a file of {len(raw)} bytes (expected "
                  f"2..{min(MAX_HEADER, len(raw) - 8)}); the file is truncated or not safetensors"
                  f"{_sniff(raw)}")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise err(f"header is not valid UTF-8 JSON ({e}){_sniff(raw)}") from None
    if not isinstance(header, dict):
        raise err(f"header is a JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and (not isinstance(meta, dict)
                             or not all(isinstance(v, str) for v in meta.values())):
        raise err("__metadata__ must be a map of strings to strings")
    buffer_len = len(raw) - 8 - n
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise err(f"tensor {name!r}: entry must have exactly dtype, shape and data_offsets")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in _DTYPES:
            raise err(f"tensor {name!r}: unknown or unsupported dtype {dt!r}; expected one of "
                      f"{', '.join(_DTYPES)}")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise err(f"tensor {name!r}: shape {shape!r} must be a list of non-negative ints")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)
                and 0 <= offs[0] <= offs[1] <= buffer_len):
            raise err(f"tensor {name!r}: data_offsets {offs!r} out of range for a data buffer "
                      f"of {buffer_len} bytes (truncated file?)")
        need = math.prod(shape) * _DTYPES[dt].itemsize
        if offs[1] - offs[0] != need:
            raise err(f"tensor {name!r}: {offs[1] - offs[0]} bytes for dtype {dt} and shape "
                      f"{tuple(shape)}, expected {need}")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos = 0
    for b, e, name in spans:   # the buffer must be covered exactly: no holes, no overlaps
        if b != pos:
            raise err(f"tensor {name!r}: data starts at byte {b}, expected {pos} (offsets "
                      f"overlap or leave a hole)")
        pos = e
    if pos != buffer_len:
        raise err(f"data buffer is {buffer_len} bytes but the tensors cover {pos} (file has "
                  f"trailing or missing bytes)")
    start = 8 + n
    arrays = {}
    for b, e, name in spans:
        dt = _DTYPES[header[name]["dtype"]]
        arr = np.frombuffer(raw, dtype=dt, count=(e - b) // dt.itemsize, offset=start + b)
        # copy: a writable, aligned, native-byte-order array that owns its memory
        arrays[name] = arr.reshape(header[name]["shape"]).astype(dt.newbyteorder("="), copy=True)
    return arrays, meta or {}


def _decode(skeleton, arrays, err):
    """Rebuild the saved object from its JSON skeleton (an explicit stack, no recursion)."""
    used = set()

    def leaf(node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node, None
        if not isinstance(node, dict) or len(node) < 1:
            raise err(f"structure has an invalid node {str(node)[:60]!r}")
        tag = next(iter(node))
        if tag in ("T", "A", "N"):
            name = node[tag]
            if name not in arrays or name in used:
                raise err(f"structure refers to tensor {name!r}, which the file does not hold "
                          f"(or refers to it twice)")
            used.add(name)
            a = arrays[name]
            if tag == "A":
                return a, None
            if tag == "N":
                return a[()], None
            return Tensor._make(a, bool(node.get("rg")) and a.dtype.kind == "f"), None
        if tag == "F" and node[tag] in ("nan", "inf", "-inf"):
            return float(node[tag]), None
        if tag in ("L", "U", "D") and isinstance(node[tag], list):
            return None, tag
        raise err(f"structure has an unknown node {str(node)[:60]!r}")

    root, kind = leaf(skeleton)
    if kind is None:
        if len(used) != len(arrays):
            raise err(f"file holds tensors not in its structure: {sorted(set(arrays) - used)[:3]}")
        return root
    containers = {"L": list, "U": list, "D": dict}
    root = containers[kind]()
    stack = [(skeleton, kind, root)]
    tuples = []   # (parent_container, key, list) to convert to tuple afterwards, innermost first
    while stack:
        node, kind, out = stack.pop()
        for item in node[kind]:
            if kind == "D":
                if not (isinstance(item, list) and len(item) == 2):
                    raise err("structure has a malformed dict item")
                key, child = item
                if isinstance(key, dict):
                    key, _ = leaf(key)
                if isinstance(key, (list, dict)):
                    raise err(f"structure has an invalid dict key {key!r}")
            else:
                key, child = len(out), item
            value, ckind = leaf(child)
            if ckind is not None:
                value = containers[ckind]()
                stack.append((child, ckind, value))
                if ckind == "U":
                    tuples.append((out, key, value))
            if kind == "D":
                out[key] = value
            else:
                out.append(value)
    # children were pushed after parents, so converting in reverse order handles nested tuples
    for parent, key, value in reversed(tuples):
        parent[key] = tuple(value)
    if next(iter(skeleton)) == "U":
        root = tuple(root)
    if len(used) != len(arrays):
        extra = sorted(set(arrays) - used)[:3]
        raise err(f"file holds tensors not in its structure: {extra}")
    return root


def load(f, map_location=None, weights_only: bool = True) -> Any:
    """Load what cr.save wrote (or any safetensors file) — fully validated, never unpickled.

    A truncated or corrupted file raises CheckpointError (a ValueError) naming the file and the
    problem, and nothing is returned. `map_location` and `weights_only` are accepted for PyTorch
    compatibility and ignored (everything is on the CPU, and nothing but data is ever loaded).

    >>> cr.save(cr.arange(3), "t.safetensors"); cr.load("t.safetensors")
    tensor([0, 1, 2])
    """
    if hasattr(f, "read"):
        raw, where = f.read(), getattr(f, "name", "<stream>")
    else:
        where = os.fspath(f)
        with open(where, "rb") as fh:
            raw = fh.read()

    def err(msg):
        return CheckpointError(f"cr.load: {where}: {msg}")

    arrays, meta = _parse(bytes(raw), err)
    if _STRUCT_KEY not in meta:   # a plain safetensors file: {name: Tensor}, in file order
        return {k: Tensor._make(v, False) for k, v in arrays.items()}
    try:
        skeleton = json.loads(meta[_STRUCT_KEY])
    except ValueError as e:
        raise err(f"metadata {_STRUCT_KEY!r} is not valid JSON ({e})") from None
    return _decode(skeleton, arrays, err)


def _roundtrip(obj):
    """save then load through memory (handy in tests and notebooks)."""
    buf = _io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return load(buf)
