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
import itertools
import json
import math
import os
import re
import socket
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
    _remove_stale_temps(folder, os.path.basename(path))
    fd, tmp = _open_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)   # the temp file is made 0600; give the result the usual permissions
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# A save writes `.<name>.chainrule-save-<pid>-<k>@<host>.tmp` next to <name> and renames it; a
# process killed in between leaves it behind, and the next save of <name> on the same host removes
# it once that process is gone (the host part keeps a shared folder's other machines' saves safe).
_TEMP = re.compile(r"\.(?P<base>.+)\.chainrule-save-(?P<pid>\d+)-\d+@(?P<host>[^/]*)\.tmp\Z")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:64]


def _temp_name(base: str, pid: int, k: int) -> str:
    return f".{base}.chainrule-save-{pid}-{k}@{_host()}.tmp"


def _open_temp(folder: str, base: str):
    for k in itertools.count():
        tmp = os.path.join(folder, _temp_name(base, os.getpid(), k))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:   # another thread of this process is saving the same file
            continue


def _process_started_after(pid: int, when: float) -> bool:
    """True if process `pid` is known to have started after time `when` (its pid was reused)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 1
    except (OSError, ValueError, IndexError, StopIteration):
        return False   # cannot tell: keep the file


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":   # on Windows os.kill(pid, 0) would send CTRL_C_EVENT: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def _remove_stale_temps(folder: str, base: str) -> None:
    """Delete this file's temp files left by saves whose process died (SIGKILL, power loss)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    host = _host()
    for name in names:
        m = _TEMP.match(name)
        if not m or m["base"] != base or m["host"] != host or int(m["pid"]) == os.getpid():
            continue
        full = os.path.join(folder, name)
        try:
            mtime = os.stat(full).st_mtime
            pid = int(m["pid"])
            if not _pid_alive(pid) or _process_started_after(pid, mtime):
                os.remove(full)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------- load

_MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32   # NumPy's own limit
_MAX_BYTES = np.iinfo(np.intp).max
# the first byte of a pickle of protocol 0 or 1 (MARK, EMPTY_DICT/LIST/TUPLE, GLOBAL, ints, strings)
_PICKLE_START = set(b"(}])cdlIJKLMFGSTUVXNt")


def _is_pickle(head: bytes, tail: bytes) -> bool:
    """Every pickle protocol: 2-5 start with PROTO (0x80 n); 0 and 1 start with an opcode and end
    with STOP ('.'), and their first opcodes parse (pickletools only reads, it never executes)."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if not head or head[0] not in _PICKLE_START or tail[-1:] != b".":
        return False
    import pickletools
    ops = 0
    try:
        for _ in pickletools.genops(_io.BytesIO(head)):
            ops += 1
            if ops >= 3:
                break
    except Exception:   # a truncated prefix ends the scan; the opcodes before it count
        pass
    return ops >= 2


def _sniff(head: bytes) -> str:
    if head[:4] == b"PK\x03\x04":
        return " (it looks like a zip archive, e.g. a torch.save checkpoint; chainrule never " \
               "unpickles: save with cr.save or safetensors)"
    if head[:6] == b"\x93NUMPY":
        return " (it looks like a NumPy .npy file; load it with np.load)"
    return ""


class _Reader:
    """The bytes of a file or stream, read on demand: the header first, then only the tensors."""

    def __init__(self, f):
        self.fh, self.owned = (f, False) if hasattr(f, "read") else (open(f, "rb"), True)
        self.where = getattr(f, "name", "<stream>") if not self.owned else os.fspath(f)
        self.size = None   # unknown for a pipe or a non-seekable stream
        try:
            if self.owned:
                self.size = os.fstat(self.fh.fileno()).st_size
            elif self.fh.seekable():
                here = self.fh.tell()
                self.size = self.fh.seek(0, os.SEEK_END) - here
                self.fh.seek(here)
        except (OSError, AttributeError, ValueError):
            self.size = None
        self.start = self.fh.tell() if not self.owned and self.size is not None else 0

    def read(self, n: int) -> bytes:
        out = self.fh.read(n)
        return bytes(out) if out is not None else b""

    def readinto(self, view) -> int:
        """Fill `view` from the stream; the number of bytes read (short only at the end)."""
        got, fill = 0, getattr(self.fh, "readinto", None)
        while got < len(view):
            if fill is not None:
                k = fill(view[got:]) or 0
            else:
                chunk = self.read(min(len(view) - got, 1 << 24))
                k = len(chunk)
                view[got:got + k] = chunk
            if k == 0:
                break
            got += k
        return got

    def tail(self) -> bytes:
        """The last byte (for sniffing), or b'' when the stream cannot seek."""
        if self.size is None or self.size == 0:
            return b""
        self.fh.seek(self.start + self.size - 1)
        return self.read(1)

    def close(self):
        if self.owned:
            self.fh.close()


def _shape_problem(shape, itemsize):
    """Why `shape` cannot be a NumPy array (None when it can)."""
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        return "must be a list of non-negative ints"
    if len(shape) > _MAX_DIMS:
        return f"has {len(shape)} dimensions, NumPy allows at most {_MAX_DIMS}"
    nonzero = math.prod(s for s in shape if s)
    if any(s > _MAX_BYTES for s in shape) or nonzero * itemsize > _MAX_BYTES:
        return "is larger than any array can be"
    return None


def _check_header(header, buffer_len, err):
    """Validate the JSON header; return ([(begin, end, name)] sorted, buffer length it covers)."""
    if not isinstance(header, dict):
        raise err(f"header is a JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and (not isinstance(meta, dict)
                             or not all(isinstance(v, str) for v in meta.values())):
        raise err("__metadata__ must be a map of strings to strings")
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise err(f"tensor {name[:60]!r}: entry must have exactly dtype, shape and "
                      f"data_offsets")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dt, str) or dt not in _DTYPES:
            raise err(f"tensor {name[:60]!r}: unknown or unsupported dtype {str(dt)[:40]!r}; "
                      f"expected one of {', '.join(_DTYPES)}")
        problem = _shape_problem(shape, _DTYPES[dt].itemsize)
        if problem:
            raise err(f"tensor {name[:60]!r}: shape {str(shape)[:60]} {problem}")
        limit = _MAX_BYTES if buffer_len is None else buffer_len
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)
                and 0 <= offs[0] <= offs[1] <= limit):
            raise err(f"tensor {name[:60]!r}: data_offsets {str(offs)[:60]} out of range for a "
                      f"data buffer of {buffer_len} bytes (truncated file?)")
        need = math.prod(shape) * _DTYPES[dt].itemsize
        if offs[1] - offs[0] != need:
            raise err(f"tensor {name[:60]!r}: {offs[1] - offs[0]} bytes for dtype {dt} and shape "
                      f"{tuple(shape)}, expected {need}")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos = 0
    for b, e, name in spans:   # the buffer must be covered exactly: no holes, no overlaps
        if b != pos:
            raise err(f"tensor {name[:60]!r}: data starts at byte {b}, expected {pos} (offsets "
                      f"overlap or leave a hole)")
        pos = e
    if buffer_len is not None and pos != buffer_len:
        raise err(f"data buffer is {buffer_len} bytes but the tensors cover {pos} (file has "
                  f"trailing or missing bytes)")
    return spans, pos, meta or {}


def _refuse_pickle(src: _Reader, head: bytes, err):
    """Called on a file that is not safetensors: say so plainly when it is a pickle."""
    more = head + src.read(56) if len(head) == 8 else head
    tail = src.tail() if len(head) == 8 else head[-1:]
    if _is_pickle(more, tail):
        raise err("it is a pickle file (e.g. from torch.save or pickle.dump) and will not be "
                  "loaded: chainrule never unpickles; save with cr.save or safetensors")


def _read_header(src: _Reader, err):
    """The 8-byte length, validated before anything else is read, then the JSON header."""
    head = src.read(8)
    if len(head) < 8:
        _refuse_pickle(src, head, err)
        raise err(f"file is {len(head)} bytes, too short for the 8-byte header length"
                  f"{_sniff(head)}")
    n = int.from_bytes(head, "little")
    most = MAX_HEADER if src.size is None else min(MAX_HEADER, src.size - 8)
    if n < 2 or n > most:
        _refuse_pickle(src, head, err)
        size = "" if src.size is None else f" for a file of {src.size} bytes"
        raise err(f"header length {n} is invalid{size} (expected 2..{most}); the file is "
                  f"truncated or not safetensors{_sniff(head)}")
    text = src.read(n)
    if len(text) != n:
        raise err(f"header length {n} is invalid: the stream ends after {len(text)} header "
                  f"bytes (truncated)")
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise err(f"header is not valid UTF-8 JSON ({str(e)[:80]}){_sniff(head)}") from None
    except RecursionError:
        raise err("header JSON is nested too deeply") from None
    buffer_len = None if src.size is None else src.size - 8 - n
    return header, n, buffer_len


def _read_arrays(src: _Reader, header, spans, covered, err):
    """Read each tensor's byte range straight into its own array (peak memory: the tensors)."""
    arrays = {}
    for b, e, name in spans:
        dt = _DTYPES[header[name]["dtype"]]
        arr = np.empty(header[name]["shape"], dtype=dt)
        got = src.readinto(memoryview(arr.reshape(-1).view(np.uint8))) if arr.size else 0
        if got != e - b:
            raise err(f"tensor {name[:60]!r}: data ends after {got} of {e - b} bytes (truncated)")
        arrays[name] = arr if dt.isnative else arr.astype(dt.newbyteorder("="))
    if src.size is None and src.read(1):
        raise err(f"the tensors cover {covered} bytes of data but the stream has more (trailing "
                  f"bytes)")
    return arrays


def _parse(src: _Reader, err):
    """Validate everything about the file before any array is made; return (arrays, metadata)."""
    header, n, buffer_len = _read_header(src, err)
    spans, covered, meta = _check_header(header, buffer_len, err)
    return _read_arrays(src, header, spans, covered, err), meta


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
            if not isinstance(name, str) or name not in arrays or name in used:
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
                    key, kkind = leaf(key)
                    if kkind is not None:
                        raise err("structure has a container as a dict key")
                if not (key is None or isinstance(key, (bool, int, float, str))):
                    raise err(f"structure has an invalid dict key {str(key)[:60]!r}")
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
    src = _Reader(f)

    def err(msg):
        return CheckpointError(f"cr.load: {src.where}: {msg}")

    try:
        arrays, meta = _parse(src, err)
    finally:
        src.close()
    if _STRUCT_KEY not in meta:   # a plain safetensors file: {name: Tensor}, in file order
        return {k: Tensor._make(v, False) for k, v in arrays.items()}
    try:
        skeleton = json.loads(meta[_STRUCT_KEY])
    except ValueError as e:
        raise err(f"metadata {_STRUCT_KEY!r} is not valid JSON ({str(e)[:80]})") from None
    except RecursionError:
        raise err(f"metadata {_STRUCT_KEY!r} is nested too deeply") from None
    return _decode(skeleton, arrays, err)


def _roundtrip(obj):
    """save then load through memory (handy in tests and notebooks)."""
    buf = _io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return load(buf)
