"""The graph and the chain rule: per-thread state, nodes, `apply`, the iterative backward engine.

A node is made for every primitive applied to a tensor that requires grad. It keeps what the
primitive's backward rule (its VJP) reads *for the gradients this call needs*: an input whose value
no needed rule reads is kept as a `Meta` (shape and dtype) or, for a constant, as its bare array;
the forward result only where a needed rule reads it; and one edge per input (the producing node,
the leaf tensor, or None). `backward` walks the nodes in reverse creation order without recursion,
calling each rule with the upstream gradient and summing where a value fans out. With
`create_graph=True` the same rules run on Tensors, so the backward pass is itself recorded and can be
differentiated again.

Grad mode, forward mode, anomaly detection and tracing are per thread (as PyTorch's grad mode).
"""
from __future__ import annotations

import itertools
import math
import sys
import threading
import weakref
from heapq import heappop, heappush, heappushpop

import numpy as np

from .tensor_base import Tensor

_make = Tensor._make


# ---------------------------------------------------------------- per-thread state

class _State(threading.local):
    """What the engine reads per op; class attributes are the defaults every new thread starts with."""
    grad = True       # grad mode: ops on tensors that require grad are recorded
    fwd = False       # cr.jvp is pushing tangents through ops
    anomaly = False   # detect_anomaly: the first op making nan/inf raises
    tracer = None     # make_program / compile: every op on a Tensor is reported to it
    watch = False     # fwd or anomaly or tracer: `_wrap` takes its slow path
    special = False   # this thread is counted in _special_threads
    offer = None      # backward: per input of the rule now running, a leaf whose spare buffer
                      # the rule may write that input's gradient into (see grad_buffer)


_tls = _State()
# NOTE: reading a threading.local costs ~90 ns, a global ~10 ns, and every op reads the state.
# `_fast` is True while no thread is in a non-default state (grad off, forward mode, anomaly,
# tracing): then the hot path reads only this global; otherwise it reads its own thread's state.
_fast = True
_special_threads = 0
_special_lock = threading.Lock()


def _rewatch():
    """Re-derive `watch` and the global fast flag after this thread's state changed."""
    global _fast, _special_threads
    st = _tls
    st.watch = st.fwd or st.anomaly or st.tracer is not None
    special = st.watch or not st.grad
    if special != st.special:
        with _special_lock:
            _special_threads += 1 if special else -1
            _fast = _special_threads == 0
        st.special = special


def _set_grad(mode):
    _tls.grad = mode
    _rewatch()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded (in this thread)."""
    return _tls.grad


def is_forward_active() -> bool:
    """True while `cr.jvp` pushes tangents through ops in this thread."""
    return _tls.fwd


def set_forward_active(active: bool) -> bool:
    """Turn tangent pushing on or off for this thread; returns the previous setting."""
    prev = _tls.fwd
    _tls.fwd = bool(active)
    _rewatch()
    return prev


def is_anomaly_enabled() -> bool:
    return _tls.anomaly


def set_tracer(tracer):
    """Report every op applied to a Tensor to `tracer.record(prim, inputs, params, result)` (this
    thread only) until set back; returns the previous tracer. Used by `make_program`."""
    prev = _tls.tracer
    _tls.tracer = tracer
    _rewatch()
    return prev


def current_tracer():
    """The tracer this thread reports ops to, or None (cheap when no thread traces)."""
    return None if _fast else _tls.tracer


def _check_finite(what, name, arr):
    if isinstance(arr, np.ndarray) and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = "nan" if np.isnan(arr).any() else "inf"
        raise FloatingPointError(f"detect_anomaly: {name} {what} produced {bad} (shape {arr.shape})")


# ---------------------------------------------------------------- nodes

class Node:
    """One recorded application of a primitive: what its backward rule needs, and where grads go.

    `edges[i]` is the node that produced input i, the leaf tensor itself, or None when input i
    needs no gradient. `inputs`/`arrays` hold the inputs and their arrays, except that an input
    no needed rule reads is kept as a `Meta` (shape, dtype). `grad_fn` of a tensor is its Node;
    `grad_fn.name` names the op.
    """
    __slots__ = ("prim", "inputs", "arrays", "params", "ans", "e0", "e1", "en", "needs", "epoch",
                 "out_vc", "tangent", "buf", "hooks", "seq", "calls", "__weakref__")
    # NOTE: `calls` is set only by Module.__call__ on its output's node (never in _wrap): a chain
    # (start seq, weakref to the module, previous chain) that viz's collapse="modules" reads.
    # NOTE: the edges of a one- or two-input node live in its slots e0, e1 (`en` holds the tuple
    # of any other node): a graph lives until backward, so every object a node adds survives
    # collections and gets promoted; an edges tuple per node was a third of what the cyclic
    # collector tracked in a chain (and made full collections of the whole heap come that often).

    @property
    def edges(self) -> tuple:
        """Per input: the node that produced it, the leaf tensor itself, or None (no gradient)."""
        n = len(self.needs)
        return (self.e0,) if n == 1 else (self.e0, self.e1) if n == 2 else self.en

    @edges.setter
    def edges(self, edges):
        n = len(edges)
        if n == 1:
            self.e0 = edges[0]
        elif n == 2:
            self.e0, self.e1 = edges
        else:
            self.en = tuple(edges)

    @property
    def name(self) -> str:
        return self.prim.name

    @property
    def next_functions(self):
        """(node or leaf tensor or None) per input, as in PyTorch."""
        return self.edges

    def __repr__(self):
        return f"<{self.prim.name} node>"


_new = object.__new__
_next_seq = itertools.count(1).__next__   # creation order (atomic under the GIL: threads share it)
_epoch = 0                                # in-place counter: a changed tensor gets the new epoch
_epoch_lock = threading.Lock()


def node_counter() -> int:
    """A number larger than the `seq` of every node made so far (and smaller than any made later)."""
    return _next_seq()


def bump_version(t):
    """Mark tensor t as changed in place (called by every in-place op)."""
    global _epoch
    with _epoch_lock:   # the epoch must only grow, also when threads change tensors at once
        _epoch += 1
        e = _epoch
    if t._vc is None:
        _link(t, [e])
    else:
        t._vc[0] = e


def _link(t, cell):
    """Give t the version cell `cell`, shared with the node that saved t's array (if one did).

    Nodes get their output's cell only here, when something first needs it (an in-place change,
    a detach): recording makes none, so a node that keeps its output adds no list to the graph.
    """
    t._vc = cell
    n = t.grad_fn
    if n is not None and n.out_vc is None and n.ans is t.data and not n.prim.residual:
        n.out_vc = cell
    return cell


def version_cell(t):
    """t's version counter cell (made, and shared with the node that saved t, on first use)."""
    return t._vc if t._vc is not None else _link(t, [0])


class Meta:
    """What a rule that reads no input values still needs of an input: its shape and dtype.

    Nodes keep one of these in place of each input that requires grad but whose value no needed
    rule reads, so e.g. relu's pre-activation is freed as soon as the user drops it (as PyTorch
    saves only what backward reads). Shared between nodes; holds no data.
    """
    __slots__ = ("shape", "dtype", "one", "two", "lhs", "rhs")   # one = (self,), two = (self,
    # self): shared by nodes as their inputs tuple, so a unary op or a same-shape binary op whose
    # inputs are both stripped adds no tuple the cyclic collector has to track and promote;
    # lhs / rhs: id(c) -> (c, self) / (self, c), the same for a Python-number constant c (0.01 * x)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __array__(self, *args, **kwargs):
        raise TypeError(f"backward: a rule read the values of an input {self!r} that its "
                        f"primitive does not keep; declare it in the primitive's `reads`")

    def __repr__(self):
        return f"Meta(shape={self.shape}, dtype={self.dtype})"


_METAS: dict = {}   # shape -> the Meta last made for it (a program has few (shape, dtype) pairs)


def _meta(a) -> Meta:
    """A Meta with a's shape and dtype, shared (keyed on the shape alone: no key tuple to build)."""
    shape = a.shape
    m = _METAS.get(shape)
    if m is None or m.dtype is not a.dtype:
        if len(_METAS) >= 1024:   # shapes can vary without end (sequence lengths): stay bounded
            _METAS.clear()
        m = _new(Meta)
        m.shape = shape
        m.dtype = a.dtype
        m.one = (m,)
        m.two = (m, m)
        m.lhs = {}
        m.rhs = {}
        _METAS[shape] = m
    return m


_SCALARS = (float, int)


def _remember(pairs, c, pair):
    """Enter `pair` in a Meta's lhs/rhs under id(c); the entry keeps c alive, so the id stays c's."""
    if len(pairs) >= 64:   # constants computed per call (1 / n) would otherwise pile up
        pairs.clear()
    pairs[id(c)] = pair
    return pair


def _strip(inputs, arrays, needs):
    """(inputs, arrays) with each input that requires grad replaced by its Meta.

    Inputs without a gradient edge (constants, tensors that do not require grad) are kept as bare
    arrays: nothing in the graph could recompute their values, and viz shows them.
    """
    if len(needs) == 2:   # binary ops (add, sub): no lists
        a, b = arrays
        na, nb = needs
        if na:
            a = _meta(a)
        if nb:
            b = _meta(b)
        return (a, b), (a, b)
    arrs = tuple([_meta(a) if n else a for a, n in zip(arrays, needs)])
    return arrs, arrs


def _keep(inputs, arrays, keep):
    """(inputs, arrays) keeping input i where keep[i] is True (the Tensor, so in-place changes to it
    are caught), a Meta where it requires grad but nothing reads it, its bare array otherwise."""
    ins = list(inputs)
    arrs = list(arrays)
    for i, k in enumerate(keep):
        if not k:
            t = ins[i]
            if isinstance(t, Tensor) and t.requires_grad:
                ins[i] = arrs[i] = _meta(arrs[i])
            else:
                ins[i] = arrs[i]
    return tuple(ins), tuple(arrs)


NO_NODE = {}   # `keeps` of primitives whose output never requires grad (comparisons)


def plans(prim):
    """(plan1, plan2, plan3) of a registered primitive: what `apply`'s 1-, 2- and 3-input paths
    keep, indexed by whether each input requires grad: plan2[na][nb] = (needs, keep per input,
    keep ans), None where no node is made. A plan is None for a primitive never recorded that way
    (residual outputs, no node, another number of inputs): `apply` then takes `_wrap`.
    """
    if prim.residual or prim.keeps is NO_NODE:
        return None, None, None
    out = []
    for n in (1, 2, 3):
        if prim.reads is not None and len(prim.reads) != n:
            out.append(None)
            continue
        flat = {}
        for needs in itertools.product((False, True), repeat=n):
            if True not in needs:
                flat[needs] = None
                continue
            if prim.keeps is not None:
                keep, keep_ans = prim.keeps[needs]
                keep = keep or (True,) * n
            else:
                keep, keep_ans = (bool(prim.saves_inputs),) * n, bool(prim.saves_ans)
            flat[needs] = (_NEEDS.setdefault(needs, needs), *keep, keep_ans)
        nested = [flat[(a,)] if n == 1 else
                  [flat[(a, b)] if n == 2 else [flat[(a, b, c)] for c in (False, True)]
                   for b in (False, True)]
                  for a in (False, True)]
        out.append(nested)
    return tuple(out)


def keep_table(prim, n_inputs):
    """For a primitive declaring `reads`: needs tuple -> (inputs to keep, whether to keep ans)."""
    table = {}
    for needs in itertools.product((False, True), repeat=n_inputs):
        read = set()
        for i, n in enumerate(needs):
            if n:
                read.update(prim.reads[i])
        keep = tuple(i in read for i in range(n_inputs))
        table[needs] = (None if all(keep) else keep, "ans" in read)
    return table


def _wrap(prim, inputs, params, arrays, out, needs, edges):
    """Make the output Tensor and, when `needs` says a gradient may flow, its Node."""
    if prim.residual:
        out, res = out
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    result = _new(Tensor)
    result.data = out
    result._grad = result._vc = result._tangent = result._hooks = result.name = None
    table = prim.keeps
    if needs is None or table is NO_NODE:
        result.requires_grad = False
        result.grad_fn = None
    else:
        node = Node()   # cheaper than object.__new__(Node)
        node.prim = prim
        if table is not None:   # the primitive says what each input's rule reads
            keep, keep_ans = table[needs]
            if keep is None:
                node.inputs = inputs
                node.arrays = arrays
            elif len(keep) == 2:   # _keep for two inputs, inlined (mul, div, matmul are hot)
                a, b = inputs
                da, db = arrays
                if not keep[0]:
                    a = da = _meta(da) if needs[0] else da
                if not keep[1]:
                    b = db = _meta(db) if needs[1] else db
                node.inputs = (a, b)
                node.arrays = (da, db)
            else:
                node.inputs, node.arrays = _keep(inputs, arrays, keep)
        else:
            keep_ans = prim.saves_ans
            if prim.saves_inputs:
                node.inputs = inputs
                node.arrays = arrays
            elif len(needs) == 1:   # unary op on a tensor that requires grad: keep only metadata
                node.inputs = node.arrays = _meta(arrays[0]).one
            else:
                node.inputs, node.arrays = _strip(inputs, arrays, needs)
        node.params = params
        node.needs = needs
        node.edges = edges
        if prim.residual:
            node.ans = res
            node.out_vc = None
        else:
            node.ans = out if keep_ans else None
            node.out_vc = None   # made on first use (version_cell)
        node.epoch = _epoch
        node.tangent = node.buf = node.hooks = None
        node.seq = _next_seq()
        result.requires_grad = True
        result.grad_fn = node
    if not _fast and _tls.watch:
        _observe(prim, inputs, params, arrays, out, result)
    return result


def _observe(prim, inputs, params, arrays, out, result):
    """The slow path of `_wrap`: anomaly check, forward-mode tangent, and the tracer."""
    if _tls.anomaly:
        _check_finite("forward", prim.name, out)
    if _tls.fwd:
        _push_tangent(prim, inputs, params, arrays, out, result)
    tracer = _tls.tracer
    if tracer is not None:
        tracer.record(prim, inputs, params, result)


def record(prim, inputs, params, arrays, out):
    """Wrap a forward result computed elsewhere (e.g. by a `Function`) and record its node."""
    needs = edges = None
    if _fast or _tls.grad:
        flags = tuple([isinstance(t, Tensor) and t.requires_grad for t in inputs])
        if True in flags:
            needs = flags
            edges = tuple([(t.grad_fn or t) if n else None for t, n in zip(inputs, flags)])
    return _wrap(prim, inputs, params, arrays, out, needs, edges)


NO_PARAMS = {}   # shared, never mutated: ops without parameters pass this
_ONE = (True,)
# needs tuples for two inputs, shared rather than built per op (fewer objects for the GC to track)
_NEEDS2 = {False: {False: (False, False), True: (False, True)},
           True: {False: (True, False), True: (True, True)}}
_NEEDS = {(True,): _ONE, **{n: n for d in _NEEDS2.values() for n in d.values()}}   # interned


def _constant(v):
    # NOTE: a NumPy scalar constant acts like a Python number (as in PyTorch), so
    # x_float32 * np.sqrt(2.0) stays float32 instead of NumPy 2 promoting it to float64.
    return v.item() if isinstance(v, np.floating) else v


def apply(prim, inputs, params=NO_PARAMS):
    """Run primitive `prim` on `inputs` (Tensors, arrays or Python numbers).

    With no Tensor among the inputs this is just the NumPy forward and returns an array, so the
    same rule code serves arrays (fast backward) and Tensors (recorded, for higher order).
    One- and two-input calls, nearly every op, take a path that builds no lists.
    """
    # NOTE: the recorded one- and two-input paths build the Tensor and its Node here (what
    # `_wrap` does, inlined from the primitive's precomputed plan): one Python call less per op,
    # and `inputs`/`arrays` share one tuple where they hold the same objects.
    n = len(inputs)
    if n == 2:
        a, b = inputs
        ta = isinstance(a, Tensor)
        tb = isinstance(b, Tensor)
        if ta or tb:
            # _constant, inlined (a Python number, as in 0.01 * x, is the common constant)
            da = a.data if ta else a.item() if isinstance(a, np.floating) else a
            db = b.data if tb else b.item() if isinstance(b, np.floating) else b
            out = prim.forward(da, db, **params) if params else prim.forward(da, db)
            na = ta and a.requires_grad
            nb = tb and b.requires_grad
            if (na or nb) and (_fast or _tls.grad):
                try:
                    plan = prim.plan2
                except AttributeError:   # a duck-typed primitive (not a registered Primitive)
                    plan = None
                if plan is None:
                    return _wrap(prim, inputs, params, (da, db), out, _NEEDS2[na][nb],
                                 ((a.grad_fn or a) if na else None,
                                  (b.grad_fn or b) if nb else None))
                needs, ka, kb, keep_ans = plan[na][nb]
                if type(out) is not np.ndarray:
                    out = np.asarray(out)
                result = _new(Tensor)
                result.data = out
                result._grad = result._tangent = result._hooks = result.name = None
                node = Node()   # cheaper than object.__new__(Node)
                node.prim = prim
                node.e0 = (a.grad_fn or a) if na else None
                node.e1 = (b.grad_fn or b) if nb else None
                # _meta, inlined (a call per stripped input was a tenth of recording)
                if ka:
                    sa = a
                elif na:
                    sa = _METAS.get(da.shape)
                    if sa is None or sa.dtype is not da.dtype:
                        sa = _meta(da)
                else:
                    sa = da
                if kb:
                    sb = b
                elif nb:
                    sb = _METAS.get(db.shape)
                    if sb is None or sb.dtype is not db.dtype:
                        sb = _meta(db)
                else:
                    sb = db
                if sa is a and sb is b and ta and tb:   # both Tensors, both kept
                    node.inputs = inputs
                    node.arrays = (da, db)
                elif sa is sb and sa.__class__ is Meta:   # both stripped, same shape and dtype
                    node.inputs = node.arrays = sa.two
                elif sb.__class__ is Meta and sa is da and da.__class__ in _SCALARS:   # 0.01 * x
                    node.inputs = node.arrays = (sb.lhs.get(id(da))
                                                 or _remember(sb.lhs, da, (da, sb)))
                elif sa.__class__ is Meta and sb is db and db.__class__ in _SCALARS:   # x * 0.01
                    node.inputs = node.arrays = (sa.rhs.get(id(db))
                                                 or _remember(sa.rhs, db, (sa, db)))
                else:
                    arrs = (da if ka else sa, db if kb else sb)
                    node.arrays = arrs
                    node.inputs = arrs if (sa is arrs[0] and sb is arrs[1]) else (sa, sb)
                node.params = params
                node.needs = needs
                node.ans = out if keep_ans else None
                node.out_vc = result._vc = None   # made on first use: version_cell
                node.epoch = _epoch
                node.tangent = node.buf = node.hooks = None
                node.seq = _next_seq()
                result.requires_grad = True
                result.grad_fn = node
                if not _fast and _tls.watch:
                    _observe(prim, inputs, params, (da, db), out, result)
                return result
            return _wrap(prim, inputs, params, (da, db), out, None, None)
    elif n == 1:
        x = inputs[0]
        if isinstance(x, Tensor):
            d = x.data
            out = prim.forward(d, **params) if params else prim.forward(d)
            if x.requires_grad and (_fast or _tls.grad):
                try:
                    plan = prim.plan1
                except AttributeError:   # a duck-typed primitive (not a registered Primitive)
                    plan = None
                if plan is None:
                    return _wrap(prim, inputs, params, (d,), out, _ONE, (x.grad_fn or x,))
                needs, keep, keep_ans = plan[1]
                if type(out) is not np.ndarray:
                    out = np.asarray(out)
                result = _new(Tensor)
                result.data = out
                result._grad = result._tangent = result._hooks = result.name = None
                node = Node()   # cheaper than object.__new__(Node)
                node.prim = prim
                node.e0 = x.grad_fn or x
                if keep:
                    node.inputs = inputs
                    node.arrays = (d,)
                else:   # _meta, inlined
                    m = _METAS.get(d.shape)
                    if m is None or m.dtype is not d.dtype:
                        m = _meta(d)
                    node.inputs = node.arrays = m.one
                node.params = params
                node.needs = needs
                node.ans = out if keep_ans else None
                node.out_vc = result._vc = None   # made on first use: version_cell
                node.epoch = _epoch
                node.tangent = node.buf = node.hooks = None
                node.seq = _next_seq()
                result.requires_grad = True
                result.grad_fn = node
                if not _fast and _tls.watch:
                    _observe(prim, inputs, params, (d,), out, result)
                return result
            return _wrap(prim, inputs, params, (d,), out, None, None)
    elif n == 3:   # linear(x, w, b), where, clamp...: as two inputs, one more of everything
        a, b, c = inputs
        ta = isinstance(a, Tensor)
        tb = isinstance(b, Tensor)
        tc = isinstance(c, Tensor)
        if ta or tb or tc:
            da = a.data if ta else _constant(a)
            db = b.data if tb else _constant(b)
            dc = c.data if tc else _constant(c)
            out = prim.forward(da, db, dc, **params) if params else prim.forward(da, db, dc)
            na = ta and a.requires_grad
            nb = tb and b.requires_grad
            nc = tc and c.requires_grad
            if (na or nb or nc) and (_fast or _tls.grad):
                try:
                    plan = prim.plan3
                except AttributeError:   # a duck-typed primitive (not a registered Primitive)
                    plan = None
                if plan is None:
                    return record(prim, inputs, params, (da, db, dc), out)
                needs, ka, kb, kc, keep_ans = plan[na][nb][nc]
                if type(out) is not np.ndarray:
                    out = np.asarray(out)
                result = _new(Tensor)
                result.data = out
                result._grad = result._tangent = result._hooks = result.name = None
                node = Node()   # cheaper than object.__new__(Node)
                node.prim = prim
                node.en = ((a.grad_fn or a) if na else None, (b.grad_fn or b) if nb else None,
                           (c.grad_fn or c) if nc else None)
                sa = a if ka else _meta(da) if na else da
                sb = b if kb else _meta(db) if nb else db
                sc = c if kc else _meta(dc) if nc else dc
                arrs = (da if ka else sa, db if kb else sb, dc if kc else sc)
                node.arrays = arrs
                node.inputs = (arrs if (sa is arrs[0] and sb is arrs[1] and sc is arrs[2])
                               else (sa, sb, sc))
                node.params = params
                node.needs = needs
                node.ans = out if keep_ans else None
                node.out_vc = result._vc = None   # made on first use: version_cell
                node.epoch = _epoch
                node.tangent = node.buf = node.hooks = None
                node.seq = _next_seq()
                result.requires_grad = True
                result.grad_fn = node
                if not _fast and _tls.watch:
                    _observe(prim, inputs, params, (da, db, dc), out, result)
                return result
            return _wrap(prim, inputs, params, (da, db, dc), out, None, None)
    arrays = [t.data if isinstance(t, Tensor) else _constant(t) for t in inputs]
    out = prim.forward(*arrays, **params)
    for t in inputs:
        if isinstance(t, Tensor):
            return record(prim, inputs, params, arrays, out)
    return out[0] if prim.residual else out


def _push_tangent(prim, inputs, params, arrays, out, result):
    """Forward mode: compute the output tangent J·t from the input tangents with prim.jvp."""
    tangents = []
    some = False
    tensor_mode = result.requires_grad
    for t in inputs:
        tt = t._tangent if isinstance(t, Tensor) else None
        tangents.append(tt)
        if tt is not None:
            some = True
            if isinstance(tt, Tensor):
                tensor_mode = True
    if not some:
        return
    # a tangent rule's own ops carry no tangents (one level of forward mode) and are not traced
    tracer = _tls.tracer
    _tls.fwd = False
    _tls.tracer = None
    _rewatch()
    try:
        if tensor_mode:
            # the result itself, not a constant copy: a rule reading ans (exp: t·ans) must stay
            # differentiable through it, or grad of a jvp (reverse-over-forward) misses that term
            ans = result
            ins = inputs
        else:
            ans, ins = out, arrays
            tangents = [tt.data if isinstance(tt, Tensor) else tt for tt in tangents]
        jvp = prim.jvp(tuple(tangents), ans, *ins, **params)
    finally:
        _tls.fwd = True
        _tls.tracer = tracer
        _rewatch()
    if jvp is not None and jvp.shape != out.shape:
        jvp = np.broadcast_to(jvp, out.shape)
    if isinstance(jvp, np.ndarray) and jvp.dtype != out.dtype and out.dtype.kind == "f":
        jvp = jvp.astype(out.dtype)
    result._tangent = jvp
    if result.grad_fn is not None:
        result.grad_fn.tangent = jvp


# ---------------------------------------------------------------- spare gradient buffers

SPARE_MIN = 1 << 20   # bytes: below this a fresh gradient comes cheaply from malloc's free lists
_spares = 0           # leaves holding a spare now (0: backward offers nothing, checks nothing)
_spare_lock = threading.Lock()


def recycle_grad(t):
    """`zero_grad(set_to_none=True)` on tensor t: drop `t.grad`, but keep its array as t's spare
    when it is large and nothing else can see it (no other reference to the grad tensor or the
    array, no view of it), so the next backward can write t's gradient there instead of
    allocating (and page-faulting) a fresh one, as a caching allocator would."""
    global _spares
    g = t._grad
    t._grad = None
    probe = object()   # held as `g` is (one local): the reference count "nobody else" shows
    if g is None or g.grad_fn is not None or sys.getrefcount(g) != sys.getrefcount(probe):
        return
    a = g.data
    if (type(a) is not np.ndarray or a.nbytes < SPARE_MIN or a.base is not None
            or not a.flags.writeable or not a.flags.c_contiguous
            or sys.getrefcount(a) != sys.getrefcount(probe) + 1):   # + g.data
        return
    with _spare_lock:
        if getattr(t, "_spare", None) is None:
            _spares += 1
        t._spare = a


def _offer(node):
    """Before node's rule runs: offer it the spares of the leaves it sends gradients to."""
    offer = None
    for i, e in enumerate(node.edges):
        if (e is not None and e.__class__ is not Node and e._grad is None and not e._hooks
                and getattr(e, "_spare", None) is not None):
            if offer is None:
                offer = [None] * len(node.edges)
            offer[i] = e
    _tls.offer = offer


def grad_buffer(i, shape, *operands):
    """For a rule (array mode): an array the engine offers for input i's gradient, of exactly this
    shape and of the dtype NumPy gives `operands`, that nothing else references; None when there
    is none. A rule writes its gradient there with `out=` and returns it.

    >>> buf = grad_buffer(1, w.shape, x, g)   # in MatMul.vjp: np.matmul(x.T, g, out=buf)
    """
    global _spares
    if not _spares:
        return None
    offer = _tls.offer
    if offer is None or offer[i] is None:
        return None
    leaf = offer[i]
    with _spare_lock:
        b = getattr(leaf, "_spare", None)
        if b is None or b.shape != shape or b.dtype != np.result_type(*operands):
            return None
        leaf._spare = None
        _spares = max(0, _spares - 1)   # a deep-copied tensor carries a spare it never counted
    offer[i] = None
    return b


# ---------------------------------------------------------------- backward

def sum_to(g, shape):
    """Undo broadcasting: sum `g` over the axes broadcasting added or stretched, giving `shape`.

    The engine calls this on every gradient whose shape differs from its input's, so no rule
    has to. Works on arrays and Tensors.
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if gshape[lead:] == shape:   # only leading axes were added (every bias): one plain sum
        return g.sum(axis=0) if lead == 1 else g.sum(axis=tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def toposort(roots):
    """Nodes reachable from `roots`, each before the nodes of its inputs (iterative, no recursion)."""
    seen = set()
    order = []
    stack = [r for r in roots if isinstance(r, Node)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        for e in node.edges:
            if isinstance(e, Node) and id(e) not in seen:
                stack.append(e)
    order.sort(key=lambda n: -n.seq)   # creation order reversed is a topological order
    return order


_FREED = ("backward: the graph through '{op}' was already freed by an earlier backward; "
          "pass retain_graph=True to the first backward() to go through it again")


def _run_hooks(hooks, g):
    for hook in hooks:
        gt = g if isinstance(g, Tensor) else _make(g, False)
        r = hook(gt)
        if r is not None:
            g = r if isinstance(g, Tensor) else (r.data if isinstance(r, Tensor) else np.asarray(r))
    return g


class _Accumulate:
    """Gradient sink of `backward()`: add each leaf's gradient into its `.grad` (as PyTorch)."""
    __slots__ = ("create_graph",)

    def __init__(self, create_graph):
        self.create_graph = create_graph

    def leaf(self, leaf, g, owned):
        hooks = leaf._hooks
        if hooks:
            g = _run_hooks(hooks, g)
            owned = False
        acc = leaf._grad
        if isinstance(g, Tensor):
            if g.data.dtype != leaf.data.dtype:
                g = g.to(leaf.data.dtype)
            leaf._grad = g if acc is None else acc + g
        else:
            if g.dtype != leaf.data.dtype:
                g = g.astype(leaf.data.dtype)
                owned = True
            if acc is None:
                leaf._grad = _make(g if owned else np.array(g), False)
            elif self.create_graph:
                leaf._grad = acc + _make(g, False)
            elif acc.data.flags.writeable and acc.data.shape == g.shape:
                acc.data += g
            else:
                leaf._grad = _make(acc.data + g, False)
        post = getattr(leaf, "_post_acc_hooks", None)   # unset on nearly every tensor
        if post:
            for hook in post:   # register_post_accumulate_grad_hook: .grad is now final
                hook(leaf)

    node = None   # gradients reaching nodes are not captured


class _Capture:
    """Gradient sink of `autograd.grad`: keep the gradients of the given tensors, touch no `.grad`."""
    __slots__ = ("grads", "leaves", "nodes")

    def __init__(self, tensors):
        self.grads = [None] * len(tensors)
        self.leaves = {id(t): i for i, t in enumerate(tensors) if t.grad_fn is None}
        self.nodes = {id(t.grad_fn): i for i, t in enumerate(tensors) if t.grad_fn is not None}

    def _add(self, i, g):
        self.grads[i] = g if self.grads[i] is None else self.grads[i] + g

    def leaf(self, leaf, g, owned):
        i = self.leaves.get(id(leaf))
        if i is not None:
            self._add(i, g)

    def node(self, node, g):
        i = self.nodes.get(id(node))
        if i is not None:
            self._add(i, g)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None,
                 observer=None):
    """The chain rule over the graph: upstream × local, summed where values fan out.

    Seeds the roots' nodes with their upstream gradients, then runs one `_step` per node from a
    max-heap on creation order, so each node runs once, after every node that uses its output (the
    order PyTorch's engine uses). Gradients reaching leaves go to a sink: accumulated into `.grad`,
    or, when `capture` lists tensors, returned for them (`autograd.grad`). `observer(node, g,
    grads)`, if given, sees every node's upstream gradient and the gradient it sends along each
    edge (after broadcasting is undone): how viz draws per-edge gradients.
    """
    sink = _Accumulate(create_graph) if capture is None else _Capture(capture)
    heap = []
    for r, g in zip(roots, root_grads):
        node = r.grad_fn
        if node is not None:
            _send(node, g, heap)
        elif r.requires_grad:   # a leaf as root: d leaf / d leaf = upstream
            sink.leaf(r, g, False)
    prev_mode = _tls.grad
    anomaly = _tls.anomaly
    _set_grad(create_graph)
    spares = _spares and capture is None and not create_graph
    # every node takes _step's checks unless nothing calls for them (then the rule runs inline)
    slow = capture is not None or retain_graph or create_graph or anomaly
    # `nxt`: the first node scheduled by the last step, kept out of the heap; it runs next unless
    # a pending node was made after it (a chain then never touches the heap)
    nxt = None
    try:
        while heap or nxt is not None:
            if nxt is None:
                node = heappop(heap)[1]
            elif not heap or heap[0][0] > -nxt.seq:
                node = nxt
            else:
                node = heappushpop(heap, (-nxt.seq, nxt))[1]
            nxt = None
            g = node.buf
            node.buf = None
            arrays = node.arrays
            if spares:
                _offer(node)
            if slow or arrays is None or node.hooks or node.epoch != _epoch:
                grads = _step(node, g, sink, retain_graph, create_graph, anomaly)
            else:   # _step's array-mode rule call, inlined
                if type(g) is not np.ndarray:
                    g = g.data if isinstance(g, Tensor) else np.asarray(g)
                if node.params:
                    grads = node.prim.vjp(g, node.ans, node.needs, *arrays, **node.params)
                elif len(arrays) == 2:   # no argument tuple to build for the common arities
                    grads = node.prim.vjp(g, node.ans, node.needs, arrays[0], arrays[1])
                elif len(arrays) == 1:
                    grads = node.prim.vjp(g, node.ans, node.needs, arrays[0])
                else:
                    grads = node.prim.vjp(g, node.ans, node.needs, *arrays)
                node.inputs = node.arrays = node.ans = None
            if observer is not None:
                grads = _shaped(grads, arrays, node.edges)
                observer(node, g, grads)
            # NOTE: by index, not zip(node.edges, ...): an edges tuple and a zip per node were a
            # tenth of a chain's backward
            k = len(node.needs)
            i = 0
            while i < k:
                edge = node.en[i] if k > 2 else node.e1 if i else node.e0
                gi = grads[i]
                arr = arrays[i]
                i += 1
                if gi is None or edge is None:
                    continue
                if gi.shape != arr.shape:   # arr: an ndarray, or the Meta standing in for it
                    gi = sum_to(gi, arr.shape)
                if edge.__class__ is Node:   # _send, inlined: this loop runs once per edge
                    buf = edge.buf
                    if buf is None:
                        edge.buf = gi
                        if nxt is None:
                            nxt = edge
                        elif edge.seq > nxt.seq:   # keep the latest-made node out of the heap:
                            heappush(heap, (-nxt.seq, nxt))   # it runs next
                            nxt = edge
                        else:
                            heappush(heap, (-edge.seq, edge))
                    elif (buf.__class__ is np.ndarray and buf.size >= _INPLACE_MIN
                          and _refcount(buf) == _OWNED and buf.base is None
                          and buf.flags.writeable and gi.__class__ is np.ndarray
                          and gi.dtype == buf.dtype and gi.shape == buf.shape):
                        buf += gi   # fan-in into a buffer only the engine holds: no allocation
                    else:   # fan-out: the copy gate adds
                        edge.buf = buf + gi
                else:
                    sink.leaf(edge, gi, type(gi) is np.ndarray and gi is not g and gi.base is None)
            grads = g = gi = arrays = arr = None   # drop this node's arrays now
    finally:
        _set_grad(prev_mode)
        if spares:
            _tls.offer = None
        for _, n in heap:   # after an error, leave no pending gradients behind
            n.buf = None
        if nxt is not None:
            nxt.buf = None
    return None if capture is None else sink.grads


_refcount = sys.getrefcount
# elements: below this, checking that a fan-in buffer may be added into costs more than the
# small allocation it saves
_INPLACE_MIN = 4096


def _owned_refs():
    """What _refcount shows for a buffer held only by one node's `buf` and one local, as in
    run_backward's fan-in test (measured, so a Python that counts differently stays safe)."""
    node = Node()   # cheaper than object.__new__(Node)
    node.buf = np.empty(1)
    buf = node.buf
    return _refcount(buf)


_OWNED = _owned_refs()


def _send(node, g, heap):
    """Pass gradient g to `node`: the first arrival schedules it, later ones add (the copy gate)."""
    buf = node.buf
    if buf is None:
        node.buf = g
        heappush(heap, (-node.seq, node))
    else:
        node.buf = buf + g


def _step(node, g, sink, retain_graph, create_graph, anomaly):
    """One node of backward: hooks, checks, its rule; returns the rule's gradient per input (or
    None), broadcast shapes not yet undone."""
    arrays = node.arrays
    if arrays is None:
        raise RuntimeError(_FREED.format(op=node.prim.name))
    if node.hooks:
        hooks = node.hooks
        if sink.node is not None:   # autograd.grad stores nothing in .grad, retained or not
            hooks = [h for h in hooks if h.__class__ is not RetainGrad]
        g = _run_hooks(hooks, g)
    if sink.node is not None:
        sink.node(node, g)
    if node.epoch != _epoch:   # something changed in place since this node was made
        _check_versions(node)
    prim = node.prim
    if create_graph:
        grads = _call_vjp_recorded(node, g)
    else:
        if type(g) is not np.ndarray:
            g = g.data if isinstance(g, Tensor) else np.asarray(g)
        ans = node.ans
        if retain_graph and prim.residual:
            ans = ans.copy()   # rules may consume their residual in place
        if node.params:
            grads = prim.vjp(g, ans, node.needs, *arrays, **node.params)
        else:
            grads = prim.vjp(g, ans, node.needs, *arrays)
    if anomaly:
        _check_grads(prim.name, grads)
    if not retain_graph:
        node.inputs = node.arrays = node.ans = None
    return grads


def _shaped(grads, arrays, edges):
    """The gradients sent along edges, broadcasting undone (None where nothing is sent)."""
    return [None if gi is None or e is None else gi if gi.shape == a.shape else sum_to(gi, a.shape)
            for gi, a, e in zip(grads, arrays, edges)]


class RetainGrad:
    """The hook `Tensor.retain_grad()` puts on a node: stores the gradient on the tensor.

    Holds the tensor weakly (no cycle tensor → node → tensor); runs after the user's hooks.
    """

    def __init__(self, tensor):
        self.ref = weakref.ref(tensor)

    def __call__(self, g):
        t = self.ref()
        if t is not None:
            g = _make(np.array(g.data), False) if not g.requires_grad else g
            t._grad = g if t._grad is None else t._grad + g


def _check_grads(name, grads):
    for gi in grads:
        if gi is not None:
            _check_finite("backward", name, gi.data if isinstance(gi, Tensor) else gi)


def _check_versions(node):
    for t in node.inputs:
        if isinstance(t, Tensor) and t._vc is not None and t._vc[0] > node.epoch:
            raise RuntimeError(
                f"backward: an input of '{node.prim.name}' (shape {t.shape}) was modified in "
                f"place after it was saved for backward; use an out-of-place op or "
                f".clone() before changing it")
    if node.out_vc is not None and node.out_vc[0] > node.epoch:
        raise RuntimeError(
            f"backward: the output of '{node.prim.name}' was modified in place after it was saved "
            f"for backward; use an out-of-place op or .clone() before changing it")


def _call_vjp_recorded(node, g):
    """Run a rule on Tensors so the backward pass is itself recorded (create_graph=True)."""
    prim = node.prim
    if not isinstance(g, Tensor):
        g = _make(g, False)
    ans = None
    if node.ans is not None and not prim.residual:
        ans = _make(node.ans, True)
        ans.grad_fn = node
        ans._tangent = node.tangent
        ans._vc = node.out_vc
    inputs = node.inputs
    tracer = _tls.tracer
    if tracer is not None and hasattr(tracer, "lift"):
        inputs = tracer.lift(inputs)   # cr.compile: traced arrays (targets) stay program values
    return prim.vjp(g, ans, node.needs, *inputs, **node.params)


# ---------------------------------------------------------------- functional gradient

def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned instead of stored in `.grad`.

    >>> x = cr.tensor(3.0, requires_grad=True)
    >>> (gx,) = cr.autograd.grad(x ** 2, x)   # 6.0
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or isinstance(grad_outputs, np.ndarray):
        grad_outputs = [grad_outputs]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {t.shape} does not require grad")
    tracer = _tls.tracer
    if tracer is not None and not create_graph and getattr(tracer, "records_backward", False):
        # cr.compile: run the rules on Tensors so the tracer records the backward's equations
        res = grad(outputs, inputs, grad_outputs, bool(retain_graph), True, allow_unused)
        return tuple(None if g is None else tracer.detached(g) for g in res)
    roots = _root_grads(outputs, grad_outputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward(outputs, roots, retain_graph, create_graph, capture=inputs)
    out = []
    for t, g in zip(inputs, res):
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: an input of shape {t.shape} was not used to compute "
                                   f"the outputs; pass allow_unused=True to get None for it")
            out.append(None)
            continue
        if not isinstance(g, Tensor):
            g = _make(np.array(g), False)
        if g.shape != t.shape:
            g = sum_to(g, t.shape)
        out.append(g)
    return tuple(out)


def _root_grads(outputs, grad_outputs, create_graph):
    roots = []
    for out, g in zip(outputs, grad_outputs):
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"backward: output has shape {out.shape}; grad can be implicitly created only "
                    f"for scalar outputs — pass gradient= (an array of shape {out.shape})")
            g = np.ones(out.data.shape, out.data.dtype)
        elif isinstance(g, Tensor):
            g = g if create_graph else g.data
        else:
            g = np.asarray(g, dtype=out.data.dtype)
        if g.shape != out.shape:
            raise RuntimeError(f"backward: gradient has shape {g.shape} but output has shape "
                               f"{out.shape}")
        roots.append(g)
    return roots


def backward(tensor, gradient=None, retain_graph=None, create_graph=False):
    """`tensor.backward(...)`: accumulate d tensor / d leaf into every leaf's `.grad`."""
    if not tensor.requires_grad:
        raise RuntimeError(f"backward: tensor of shape {tensor.shape} does not require grad and "
                           f"has no grad_fn (was it made under no_grad, or from inputs without "
                           f"requires_grad=True?)")
    if retain_graph is None:
        retain_graph = create_graph
    tracer = _tls.tracer
    if tracer is not None and not create_graph and getattr(tracer, "records_backward", False):
        # cr.compile: the rules run on Tensors (recorded); the tracer then detaches each `.grad`
        return tracer.backward(tensor, _root_grads([tensor], [gradient], True), retain_graph)
    roots = _root_grads([tensor], [gradient], create_graph)
    run_backward([tensor], roots, retain_graph, create_graph)


# The grad-mode context managers and user-defined Functions live in their own modules; they are
# part of the engine's surface, so they are importable from here too.
from .grad_mode import (detect_anomaly, enable_grad, inference_mode, no_grad,  # noqa: E402,F401
                        set_grad_enabled)
from .function import Context, Function, _FunctionPrim  # noqa: E402,F401
