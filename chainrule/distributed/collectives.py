"""The process group and its collectives, on mpi4py's buffer interface (arrays are never pickled).

Each collective first agrees on a one-line signature of its arguments (op, shape, dtype) with one
tiny all-reduce, so ranks that pass different shapes get a clear ValueError naming every rank's
shape instead of a hang or silently mixed memory.
"""
from __future__ import annotations

import os
import sys
import zlib

import numpy as np

from ..tensor import Tensor

_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class ReduceOp:
    """Reduction of all_reduce / reduce_scatter: ReduceOp.SUM, AVG, MAX or MIN (torch's names)."""
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


class _Group:
    comm = None          # a duplicate of MPI.COMM_WORLD: our traffic never meets the user's
    rank = 0
    world = 1


_G = _Group()


def _mpi():
    # Open MPI's default non-blocking all-reduce for few ranks (binomial) is ~10× slower than
    # the blocking one on large buffers (DDP's buckets); the ring is as fast. Read at MPI_Init,
    # so it is set before mpi4py.MPI is first imported; a value the user set wins.
    os.environ.setdefault("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("cr.distributed needs mpi4py and an MPI library: pip install "
                          "'chainrule[distributed]' (and Debian's openmpi-bin libopenmpi-dev; "
                          f"`make install` does both) ({e})") from None
    return MPI


def is_available() -> bool:
    """True when mpi4py can be imported (without initialising MPI)."""
    try:
        import importlib.util
        return importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):
        return False


def launched_by_mpirun() -> bool:
    """True when the environment that mpirun/mpiexec sets is present."""
    return any(v in os.environ for v in _MPI_ENV)


def is_initialized() -> bool:
    return _G.comm is not None


def _need(who):
    if _G.comm is None:
        raise RuntimeError(f"cr.distributed.{who}: the process group is not initialised; call "
                           f"cr.distributed.init_process_group('mpi') first")
    return _G.comm


def init_process_group(backend: str = "mpi", init_method=None, world_size: int = -1,
                       rank: int = -1, timeout=None) -> None:
    """Join the processes that mpirun started; rank and world size come from MPI.

    world_size/rank, when given, must agree with what mpirun set (they cannot be chosen here).
    A rank that dies from an uncaught exception then aborts the whole job, naming itself.

    >>> cr.distributed.init_process_group(backend="mpi")
    """
    if backend not in ("mpi", None):
        raise ValueError(f"init_process_group: backend {backend!r} is not available; chainrule "
                         f"runs on CPU processes over MPI: backend='mpi'")
    if _G.comm is not None:
        raise RuntimeError("init_process_group: the process group is already initialised "
                           "(call destroy_process_group first)")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    r, w = comm.Get_rank(), comm.Get_size()
    for name, given, actual in (("world_size", world_size, w), ("rank", rank, r)):
        if given not in (-1, None) and int(given) != actual:
            comm.Free()
            raise ValueError(f"init_process_group: {name}={given} but mpirun started this process "
                             f"as {name} {actual}; drop the argument or change `mpirun -n`")
    _G.comm, _G.rank, _G.world = comm, r, w
    _install_abort_hook()


def destroy_process_group(group=None) -> None:
    """Leave the process group (MPI itself is finalised by mpi4py at exit)."""
    if _G.comm is not None:
        _G.comm.Free()
    _G.comm, _G.rank, _G.world = None, 0, 1


def get_rank(group=None) -> int:
    """This process's rank, 0..world_size-1 (0 when no process group is initialised)."""
    return _G.rank


def get_world_size(group=None) -> int:
    """The number of processes (1 when no process group is initialised)."""
    return _G.world


def abort(reason: str, code: int = 1) -> None:
    """Stop every rank now (MPI_Abort) after printing which rank failed and why."""
    sys.stderr.write(f"chainrule.distributed: rank {_G.rank} of {_G.world} failed: {reason}; "
                     f"aborting all {_G.world} ranks\n")
    sys.stderr.flush()
    if _G.comm is not None:
        _mpi().COMM_WORLD.Abort(code)
    os._exit(code)


def _install_abort_hook():
    previous = sys.excepthook

    def hook(tp, value, tb):
        previous(tp, value, tb)   # the traceback first, then the job-wide stop
        if _G.comm is not None and _G.world > 1:
            abort(f"{tp.__name__}: {value}")
    sys.excepthook = hook


# ---------------------------------------------------------------------------------- helpers

class Work:
    """What an async_op=True collective returns: `wait()` finishes it (torch's Work)."""

    def __init__(self, request, finish=None):
        self._request, self._finish, self._done = request, finish, False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if not self._done:
            self._request.Wait()
            self._complete()
        return True

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()


class _Done(Work):
    def __init__(self):
        self._done = True


def _array(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"cr.distributed.{who}: expected a Tensor, got {type(tensor).__name__}")
    a = tensor.data
    if a.dtype.kind not in "fiu":
        raise TypeError(f"cr.distributed.{who}: dtype {a.dtype} is not supported (expected a "
                        f"float, int or uint tensor; convert bool tensors with .to(cr.int64))")
    return a


def _buffer(tensor, who):
    """An array MPI can write into that is the tensor's own memory, or a copy put back later."""
    a = _array(tensor, who)
    if a.dtype == np.float16:   # MPI has no half type: reduce in float32, round once at the end
        return a.astype(np.float32), True
    if a.flags.c_contiguous and a.flags.writeable:
        return a, False
    return np.ascontiguousarray(a), True


def _store(tensor, buf, copied):
    if copied:
        tensor.data = buf.astype(tensor.data.dtype, copy=False).reshape(tensor.data.shape)
    tensor._bump()   # changed in place: autograd must know the old value is gone


def _agree(comm, who, desc: str) -> None:
    """All ranks must pass the same `desc`; else one ValueError listing each rank's.

    The collective's name is part of it, so ranks calling different collectives are caught too.
    """
    desc = f"{who} {desc}"
    sig = zlib.crc32(desc.encode())
    check = np.array([sig, -sig], dtype=np.int64)
    comm.Allreduce(_mpi().IN_PLACE, check, op=_mpi().MAX)
    if check[0] != -check[1]:
        every = [d.split("; ") for d in comm.allgather(desc)]   # short strings, error path only
        k = next((k for k in range(max(map(len, every)))   # the first item that differs
                  if len({tuple(d[k:k + 1]) for d in every}) > 1), 0)
        parts = [f"rank {i} {' '.join(d[k:k + 1]) or '(nothing)'}" for i, d in enumerate(every)]
        raise ValueError(f"cr.distributed.{who}: ranks disagree: " + "; ".join(parts)
                         + "; every rank must pass the same shape and dtype")


def _desc(a, extra=""):
    return f"{a.dtype} {tuple(a.shape)}{extra}"


def _op(op, kind, who):
    MPI = _mpi()
    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
             ReduceOp.MIN: MPI.MIN}
    if op not in table:
        raise ValueError(f"cr.distributed.{who}: op must be ReduceOp.SUM, AVG, MAX or MIN, "
                         f"got {op!r}")
    if op == ReduceOp.AVG and kind != "f":
        raise TypeError(f"cr.distributed.{who}: ReduceOp.AVG needs a floating tensor (an "
                        f"integer mean is not an integer); use SUM and divide")
    return table[op]


def _finish(async_op, request, finish):
    work = Work(request, finish)
    if async_op:
        return work
    work.wait()
    return None


# ---------------------------------------------------------------------------------- collectives

def barrier(group=None, async_op: bool = False):
    """Wait until every rank has reached this call."""
    comm = _need("barrier")
    if async_op:
        return Work(comm.Ibarrier())
    _agree(comm, "barrier", "")   # an all-reduce is a barrier, and checks the others called one


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce `tensor` over all ranks, in place on every rank: SUM, AVG, MAX or MIN.

    >>> t = cr.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
    >>> dist.all_reduce(t)                       # on 2 ranks: tensor([3., 6.])
    """
    comm = _need("all_reduce")
    a = _array(tensor, "all_reduce")
    mpi_op = _op(op, a.dtype.kind, "all_reduce")
    _agree(comm, "all_reduce", _desc(a, f" op {op}"))
    buf, copied = _buffer(tensor, "all_reduce")
    world = _G.world

    def done():
        if op == ReduceOp.AVG:
            np.divide(buf, world, out=buf)
        _store(tensor, buf, copied)
    if not async_op:   # the blocking call: fewer synchronisation rounds than Iallreduce + Wait
        comm.Allreduce(_mpi().IN_PLACE, buf, op=mpi_op)
        done()
        return None
    return Work(comm.Iallreduce(_mpi().IN_PLACE, buf, op=mpi_op), done)


def broadcast(tensor, src: int = 0, group=None, async_op: bool = False):
    """Copy rank `src`'s tensor into `tensor` on every rank, in place."""
    comm = _need("broadcast")
    if not 0 <= int(src) < _G.world:
        raise ValueError(f"cr.distributed.broadcast: src={src} is not a rank (world size "
                         f"{_G.world})")
    a = _array(tensor, "broadcast")
    _agree(comm, "broadcast", _desc(a, f" from rank {src}"))
    buf, copied = _buffer(tensor, "broadcast")
    request = comm.Ibcast(buf, root=int(src))
    return _finish(async_op, request, lambda: _store(tensor, buf, copied))


def _check_per_rank(op, what, tensors, like, like_name):
    """One tensor per rank, each with `like`'s shape and dtype, or a one-line error naming op."""
    if len(tensors) != _G.world:
        raise ValueError(f"cr.distributed.{op}: {what} has {len(tensors)} tensors, expected one "
                         f"per rank ({_G.world})")
    for i, t in enumerate(tensors):
        if _array(t, op).shape != like.shape or t.data.dtype != like.dtype:
            raise ValueError(f"cr.distributed.{op}: {what}[{i}] is {_desc(t.data)}, expected "
                             f"{_desc(like)} like {like_name}")


def all_gather(tensor_list: list, tensor, group=None, async_op: bool = False):
    """Fill tensor_list[i] (in place) with rank i's `tensor`; every rank passes the same shape."""
    comm = _need("all_gather")
    a = _array(tensor, "all_gather")
    _check_per_rank("all_gather", "tensor_list", tensor_list, a, "the input tensor")
    _agree(comm, "all_gather", _desc(a))
    send = np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float16 else None)
    recv = np.empty((_G.world,) + a.shape, dtype=send.dtype)
    request = comm.Iallgather(send, recv)

    def done():
        for t, part in zip(tensor_list, recv):
            if t.data.flags.writeable:
                np.copyto(t.data, part, casting="unsafe")
            else:
                t.data = part.astype(a.dtype)
            t._bump()
    return _finish(async_op, request, done)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """Rank i's input becomes rows [i*n, (i+1)*n) of output (world × input along axis 0)."""
    a = _array(input_tensor, "all_gather_into_tensor")
    expected = (_G.world * a.shape[0],) + a.shape[1:] if a.ndim else (_G.world,)
    if tuple(output_tensor.shape) != expected:
        raise ValueError(f"cr.distributed.all_gather_into_tensor: output shape "
                         f"{tuple(output_tensor.shape)}, expected {expected} (world size "
                         f"{_G.world} × input {tuple(a.shape)})")
    parts = [Tensor._make(np.empty_like(a), False) for _ in range(_G.world)]
    work = all_gather(parts, input_tensor, async_op=True)

    def done():
        np.copyto(output_tensor.data, np.concatenate([p.data.reshape((-1,) + a.shape[1:])
                                                      for p in parts]))
        output_tensor._bump()
    outer = Work(work._request, lambda: (work._complete(), done()))
    if async_op:
        return outer
    outer.wait()


def reduce_scatter(output, input_list: list, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce input_list element-wise over ranks; rank i gets the reduced input_list[i] in output."""
    comm = _need("reduce_scatter")
    out = _array(output, "reduce_scatter")
    _check_per_rank("reduce_scatter", "input_list", input_list, out, "output")
    mpi_op = _op(op, out.dtype.kind, "reduce_scatter")
    _agree(comm, "reduce_scatter", _desc(out, f" op {op}"))
    work_dtype = np.float32 if out.dtype == np.float16 else out.dtype
    send = np.stack([t.data for t in input_list]).astype(work_dtype, copy=False)
    buf, copied = _buffer(output, "reduce_scatter")
    request = comm.Ireduce_scatter_block(send, buf, op=mpi_op)
    world = _G.world

    def done():
        if op == ReduceOp.AVG:
            np.divide(buf, world, out=buf)
        _store(output, buf, copied)
    return _finish(async_op, request, done)
