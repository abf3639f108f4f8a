"""cr.nn.parallel.DistributedDataParallel: data-parallel training over cr.distributed (MPI).

Every rank holds the same model and runs forward/backward on its own share of the batch; during
backward, gradients are averaged over the ranks in buckets, each bucket's non-blocking MPI
all-reduce starting as soon as its last gradient is accumulated, so communication overlaps the
rest of backward. After `backward()` every rank has the same averaged `.grad`, so the same
optimizer step keeps the replicas identical.

>>> dist.init_process_group("mpi")
>>> model = cr.nn.parallel.DistributedDataParallel(make_model())
>>> loss_fn(model(x_shard), y_shard).backward()   # .grad = mean over ranks
>>> opt.step()
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .module import Module

# states of one iteration: no sync wanted; forward ran; backward entered forward's graph; averaged
_IDLE, _ARMED, _COUNTING, _DONE = 0, 1, 2, 3


class _Bucket:
    __slots__ = ("params", "flat", "views", "pending", "expected", "request")

    def __init__(self, params, dtype):
        self.params = params
        if dtype == np.float16:   # MPI has no half type: reduce in float32
            dtype = np.float32
        self.flat = np.zeros(sum(p.data.size for p in params), dtype=dtype)
        self.views, at = [], 0
        for p in params:
            self.views.append(self.flat[at:at + p.data.size].reshape(p.data.shape))
            at += p.data.size
        self.pending = self.expected = 0
        self.request = None


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training: same parameters on every rank, averaged grads.

    At construction, parameters and buffers are broadcast from rank 0 (after checking that every
    rank built the same names, shapes and dtypes). `bucket_cap_mb` bounds a bucket's size.
    Inside `with ddp.no_sync():` forward/backward only accumulate local gradients; the next
    backward outside it averages the accumulated sum. `ddp.module` is the wrapped model and
    state_dict keys carry the `module.` prefix, as in PyTorch. Every output of forward must
    feed the loss (parameters it cannot reach are treated as unused and averaged as they are).

    >>> ddp = cr.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=25)
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False):
        super().__init__()
        from .. import distributed as dist
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call "
                               "cr.distributed.init_process_group('mpi') first")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a cr.nn.Module, got "
                            f"{type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.comm_seconds = 0.0   # time spent inside MPI calls made by the gradient hooks
        self._dist = dist
        self._comm = dist.collectives._need("DistributedDataParallel")
        self._world = dist.get_world_size()
        self._inv = 1.0 / self._world
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = {id(p): n for n, p in named}
        self._params = [p for _, p in named]
        self._sync_module_states(named)
        self._buckets, self._where = self._make_buckets()
        self._state = _IDLE
        self._launched = 0
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready)
                         for p in self._params]

    # ------------------------------------------------------------------ set-up
    def _sync_module_states(self, named):
        buffers = list(self.module.named_buffers())
        desc = "; ".join(f"{n} {p.data.dtype} {tuple(p.data.shape)}" for n, p in
                         list(self.module.named_parameters()) + buffers)
        self._dist.collectives._agree(self._comm, "DistributedDataParallel", f"model: {desc}")
        for _, t in list(self.module.named_parameters()) + buffers:
            self._dist.broadcast(t, src=0)

    def _make_buckets(self):
        # reverse order: the last layers' gradients are ready first during backward
        cap = self.bucket_cap_mb * 2 ** 20
        buckets, current, size, dtype = [], [], 0, None
        for p in reversed(self._params):
            if current and (p.data.dtype != dtype or size + p.data.nbytes > cap):
                buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(p)
            size += p.data.nbytes
            dtype = p.data.dtype
        if current:
            buckets.append(_Bucket(current, dtype))
        where = {id(p): i for i, b in enumerate(buckets) for p in b.params}
        return buckets, where

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        if self._state in (_ARMED, _COUNTING):
            self._unfinished()
        self._state = _IDLE
        if self.broadcast_buffers and self._world > 1:
            for _, b in self.module.named_buffers():
                self._dist.broadcast(b, src=0)
        out = self.module(*inputs, **kwargs)
        if self.require_backward_grad_sync and autograd.is_grad_enabled():
            self._arm(out)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Skip the gradient all-reduce for forward/backward inside (gradient accumulation).

        >>> with ddp.no_sync():
        ...     loss_fn(ddp(x1), y1).backward()     # local accumulation only
        >>> loss_fn(ddp(x2), y2).backward()         # averages the accumulated gradients
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _arm(self, out):
        """Count the gradient contributions each parameter gets from backward through `out`.

        The engine runs nodes in decreasing creation order, so whatever the loss adds after
        forward (say an L2 penalty on the weights) reaches the parameters before backward
        enters forward's graph. A hook on forward's output nodes marks that moment; from then
        on exactly `uses[p]` contributions arrive per parameter, and a bucket whose count
        reaches zero is final and can start its all-reduce.
        """
        uses = {id(p): 0 for p in self._params}
        stack, seen, outputs = [], set(), []
        todo = [out]
        while todo:   # the (nested) outputs: tensors, tuples, lists, dicts
            o = todo.pop()
            if isinstance(o, Tensor):
                if o.grad_fn is not None:
                    stack.append(o.grad_fn)
                    outputs.append(o)
                elif id(o) in uses:
                    uses[id(o)] += 1
            elif isinstance(o, (tuple, list)):
                todo.extend(o)
            elif isinstance(o, dict):
                todo.extend(o.values())
        while stack:   # iterative walk over the graph: each node once, every edge to a leaf counted
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for edge in node.edges:
                if edge is None:
                    continue
                if isinstance(edge, autograd.Node):
                    if id(edge) not in seen:
                        stack.append(edge)
                elif id(edge) in uses:
                    uses[id(edge)] += 1
        if not any(uses.values()) or not outputs:
            return   # nothing in this output's graph needs a gradient
        self._uses = uses
        self._arrived = 0
        for b in self._buckets:
            b.expected = b.pending = sum(uses[id(p)] for p in b.params)
            b.request = None
        self._launched = 0
        self._state = _ARMED
        for o in outputs:
            o.register_hook(self._entering_forward_graph)

    def _entering_forward_graph(self, grad):
        if self._state == _ARMED:
            self._state = _COUNTING
            self._launch_ready()   # leading buckets of unused parameters can go now

    # ------------------------------------------------------------------ backward
    def _grad_ready(self, p):
        state = self._state
        if state == _IDLE:
            return   # under no_sync (or outside DDP's forward): local accumulation only
        if state == _DONE:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names[id(p)]!r} got a "
                               f"gradient after this iteration's gradients were averaged; run "
                               f"forward again before each backward")
        self._arrived += 1
        if state == _ARMED:
            return   # from the loss, before forward's graph: in .grad when its bucket goes
        i = self._where[id(p)]
        b = self._buckets[i]
        if self._uses[id(p)] <= 0:
            if i < self._launched:
                raise RuntimeError(f"DistributedDataParallel: parameter "
                                   f"{self._names[id(p)]!r} got a gradient from outside "
                                   f"forward's graph after its bucket was sent; use parameters "
                                   f"in the loss only through the wrapped model or after it")
            return
        self._uses[id(p)] -= 1
        b.pending -= 1
        if b.pending == 0 and i == self._launched:
            self._launch_ready()

    def _launch_ready(self):
        MPI = self._dist.collectives._mpi()
        t0 = time.perf_counter()
        # buckets start in index order on every rank: MPI matches collectives by call order
        while self._launched < len(self._buckets) and \
                self._buckets[self._launched].pending == 0:
            b = self._buckets[self._launched]
            for p, v in zip(b.params, b.views):   # scaled by 1/world on the way in: one pass
                if p.grad is None:
                    v[...] = 0
                else:
                    np.multiply(p.grad.data, self._inv, out=v, casting="same_kind")
            self._launched += 1
            if self._launched == len(self._buckets):
                # nothing of backward is left to overlap with: the blocking all-reduce is faster
                self._comm.Allreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
                b.request = MPI.REQUEST_NULL
            else:
                b.request = self._comm.Iallreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
        started = [b.request for b in self._buckets[:self._launched]]
        if self._launched == len(self._buckets):
            MPI.Request.Waitall(started)
            self.comm_seconds += time.perf_counter() - t0
            self._finish()
        else:
            MPI.Request.Testall(started)   # lets MPI progress the buckets in flight
            self.comm_seconds += time.perf_counter() - t0

    def _finish(self):
        self._state = _DONE
        as_view = self.gradient_as_bucket_view
        for b in self._buckets:
            b.request = None
            same = b.flat.dtype == b.params[0].data.dtype
            for p, v in zip(b.params, b.views):
                g = p.grad
                if g is None and not v.any():   # unused on every rank: stays None everywhere
                    continue
                if as_view and same:   # .grad lives in the bucket: no copy back (PyTorch's flag)
                    if g is None or g.data is not v:
                        p.grad = Tensor._make(v, False)
                elif g is not None and g.data.flags.writeable and g.data.shape == v.shape \
                        and not g.requires_grad:
                    np.copyto(g.data, v, casting="same_kind")
                else:
                    p.grad = Tensor._make(v.astype(p.data.dtype), False)

    def _unfinished(self):
        self._state = _IDLE
        started = [b.request for b in self._buckets if b.request is not None]
        if not self._arrived:   # a forward without backward (e.g. evaluation): nothing to undo
            if started:
                self._dist.collectives._mpi().Request.Waitall(started)
            return
        missing = [self._names[id(p)] for p in self._params if self._uses[id(p)] > 0] or \
            [self._names[id(p)] for p in self._params]
        raise RuntimeError(f"DistributedDataParallel: the previous backward did not reach "
                           f"parameter(s) {', '.join(missing)}, so their gradients were never "
                           f"averaged; every output of forward must be used in the loss, and "
                           f"backward must run before the next forward (wrap forward-only "
                           f"passes in cr.no_grad())")
