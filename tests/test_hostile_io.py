"""Hostile checkpoint files (issue 14, items 1, 4, 5): bounded memory, one CheckpointError, no pickle."""
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import CheckpointError

GiB = 1 << 30


def _file(path, header: dict, data_len: int = None, data: bytes = b""):
    """Write a safetensors file with this header; the data part is `data`, or a sparse hole."""
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
        if data_len is not None:
            f.truncate(8 + len(text) + data_len)
    return path


def _run_capped(code: str, extra_mb: int = 200):
    """Run `code` in a fresh interpreter whose address space may grow at most extra_mb beyond
    what the interpreter with chainrule imported already uses; (returncode, stdout, seconds)."""
    prelude = textwrap.dedent(f"""
        import resource, sys, time
        import chainrule as cr
        from chainrule.io import CheckpointError
        base = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024
        cap = base + {extra_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        t0 = time.perf_counter()
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=120)
    return res.returncode, res.stdout + res.stderr, time.perf_counter() - t0


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status") or os.name != "posix",
                                reason="the address-space cap needs Linux /proc and resource")


# -------------------------------------------------------------------- item 1: bounded memory

@needs_proc
@pytest.mark.parametrize("case", ["length 2**63", "trailing bytes", "truncated data"])
def test_hostile_2gib_file_is_rejected_quickly_under_a_200mb_cap(tmp_path, case):
    path = tmp_path / "hostile.safetensors"
    if case == "length 2**63":
        with open(path, "wb") as f:
            f.write((2 ** 63).to_bytes(8, "little"))
            f.truncate(2 * GiB)
    elif case == "trailing bytes":   # a valid 4 KiB tensor, then 2 GiB nobody names
        _file(path, {"t": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}},
              data_len=2 * GiB)
    else:   # the header names 3 GiB of data, the file holds 1 GiB
        _file(path, {"t": {"dtype": "F32", "shape": [3 * GiB // 4],
                           "data_offsets": [0, 3 * GiB]}}, data_len=GiB)
    rc, out, _ = _run_capped(f"""
        try:
            cr.load({str(path)!r})
        except CheckpointError as e:
            print("REJECTED", time.perf_counter() - t0, e)
    """)
    assert rc == 0 and "REJECTED" in out, out
    seconds = float(out.split()[1])
    assert seconds < 5.0, out   # O(header): before the fix, 2 GB read (MemoryError here)
    assert str(path) in out


@needs_proc
def test_loading_a_large_tensor_costs_its_size_once(tmp_path):
    # 150 MB of float32 zeros: fits in the 200 MB cap only if it is not read twice (raw + copy)
    n = 150 * 2 ** 20 // 4
    path = _file(tmp_path / "big.safetensors",
                 {"t": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}, data_len=4 * n)
    rc, out, _ = _run_capped(f"""
        t = cr.load({str(path)!r})["t"]
        print("LOADED", t.shape, float(t.data[-1]), t.data.flags.writeable, t.data.flags.owndata)
    """)
    assert rc == 0 and f"LOADED ({n},) 0.0 True True" in out, out


def test_stream_without_seek_reads_only_what_the_header_names():
    w = cr.randn(5, 3)
    buf = io.BytesIO()
    cr.save({"w": w}, buf)

    class Pipe:   # a non-seekable stream, like sys.stdin.buffer
        def __init__(self, raw):
            self.raw = io.BytesIO(raw)

        def read(self, n=-1):
            return self.raw.read(n)

    back = cr.load(Pipe(buf.getvalue()))["w"]
    assert np.array_equal(back.data, w.data)
    with pytest.raises(CheckpointError, match="trailing"):
        cr.load(Pipe(buf.getvalue() + b"\0" * 8))
    with pytest.raises(CheckpointError, match="truncated"):
        cr.load(Pipe(buf.getvalue()[:-4]))


# -------------------------------------------------------------------- item 5: one clear error

def _struct_file(path, structure: str, tensors=()):
    header = {"__metadata__": {"format": "chainrule", "chainrule.structure": structure}}
    data = b""
    for name in tensors:
        header[name] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
        data += b"\0" * 4
    return _file(path, header, data=data)


def _raw_header_file(path, text: bytes):
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    return path


MALFORMED = {
    "100k [ in header": lambda p: _raw_header_file(p, b"[" * 100_000 + b"]" * 100_000),
    "100k [ in structure": lambda p: _struct_file(p, "[" * 100_000 + "]" * 100_000),
    "dtype list": lambda p: _file(p, {"t": {"dtype": ["F32"], "shape": [1],
                                            "data_offsets": [0, 4]}}, data=b"\0" * 4),
    "tensor name list": lambda p: _struct_file(p, '{"T": ["a"]}', ["a"]),
    "array key": lambda p: _struct_file(p, '{"D": [[{"A": "a"}, 1]]}', ["a"]),
    "list key": lambda p: _struct_file(p, '{"D": [[{"L": []}, 1]]}'),
    "shape [0, 2**70]": lambda p: _file(p, {"t": {"dtype": "F32", "shape": [0, 2 ** 70],
                                                  "data_offsets": [0, 0]}}),
    "shape [0, 2**40, 2**40]": lambda p: _file(p, {"t": {"dtype": "F32",
                                                         "shape": [0, 2 ** 40, 2 ** 40],
                                                         "data_offsets": [0, 0]}}),
    "100 dims": lambda p: _file(p, {"t": {"dtype": "F32", "shape": [1] * 100,
                                          "data_offsets": [0, 4]}}, data=b"\0" * 4),
    "5000-digit shape": lambda p: _raw_header_file(
        p, b'{"t": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 0]}}'),
    "offsets floats": lambda p: _file(p, {"t": {"dtype": "F32", "shape": [1],
                                                "data_offsets": [0.0, 4.0]}}, data=b"\0" * 4),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_one_checkpoint_error(tmp_path, case):
    path = MALFORMED[case](tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError) as info:
        cr.load(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg and len(msg) < 400, msg


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("obj", [{"w": [1.0, 2.0]}, [1, 2, 3], "text", 7, (1.5, None)])
def test_pickle_of_every_protocol_is_refused_as_a_pickle(tmp_path, protocol, obj):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    with pytest.raises(CheckpointError, match="it is a pickle file .* will not be loaded"):
        cr.load(path)
    with pytest.raises(CheckpointError, match="it is a pickle file"):
        cr.load(io.BytesIO(pickle.dumps(obj, protocol=protocol)))


# -------------------------------------------------------------------- item 4: stale temp files

def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temp_name_says_where_it_comes_from_and_stale_ones_are_cleaned(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    cr.save({"w": cr.ones(2)}, path)
    assert seen and seen[0].startswith(f".ck.safetensors.chainrule-save-{os.getpid()}")
    assert seen[0].endswith(".tmp")
    monkeypatch.undo()

    host = seen[0].rsplit("@", 1)[1][:-len(".tmp")]
    dead_pid = _dead_pid()
    dead = tmp_path / f".ck.safetensors.chainrule-save-{dead_pid}-0@{host}.tmp"
    dead.write_bytes(b"x" * 100)
    alive = tmp_path / f".ck.safetensors.chainrule-save-{os.getppid()}-0@{host}.tmp"   # running
    alive.write_bytes(b"y")
    other = tmp_path / f".other.safetensors.chainrule-save-{dead_pid}-0@{host}.tmp"  # other file
    other.write_bytes(b"z")
    remote = tmp_path / f".ck.safetensors.chainrule-save-{dead_pid}-0@{host}x.tmp"  # other host
    remote.write_bytes(b"r")
    mine = tmp_path / ".ck.safetensors.notes.tmp"   # not ours at all
    mine.write_bytes(b"u")
    cr.save({"w": cr.ones(2)}, path)
    left = sorted(os.listdir(tmp_path))
    assert dead.name not in left
    assert {alive.name, other.name, remote.name, mine.name, "ck.safetensors"} <= set(left)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_during_save_leaves_a_temp_file_the_next_save_removes(tmp_path):
    path = tmp_path / "ck.safetensors"
    ready = tmp_path / "ready"
    code = textwrap.dedent(f"""
        import os, time
        import chainrule as cr
        def stuck(fd):   # simulate a kill in the middle of writing
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        os.fsync = stuck
        cr.save({{"w": cr.ones(1000)}}, {str(path)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while not ready.exists() and time.time() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the write"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    stale = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(f".ck.safetensors.chainrule-save-{child.pid}-0@")
    cr.save({"w": cr.zeros(3)}, path)
    assert sorted(os.listdir(tmp_path)) == ["ck.safetensors", "ready"]
    assert np.array_equal(cr.load(path)["w"].data, np.zeros(3, np.float32))
