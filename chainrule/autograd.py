"""The graph and the chain rule: grad mode, nodes, `apply`, the iterative backward engine, `Function`.

A node is made for every primitive applied to a tensor that requires grad. It keeps what the
primitive's backward rule (its VJP) needs: the input arrays (only their shape and dtype, a `Meta`,
when the rule reads no input values: add, relu, sum, reshape, ...), the forward result where the
rule reads it, and one edge per input (the producing node, the leaf tensor, or None). `backward`
walks the nodes in reverse topological order without recursion, calling each rule with "upstream
gradient" and summing where a value fans out. With `create_graph=True` the same rules run on
Tensors, so the backward pass is itself recorded and can be differentiated again.
"""
from __future__ import annotations

import functools
import math
import weakref
from heapq import heappop, heappush

import numpy as np

Tensor = None  # the Tensor class; set by chainrule.tensor (it imports this module)

_grad_enabled = True
_fwd_active = False   # True while cr.jvp pushes tangents through ops
_anomaly = False


# ---------------------------------------------------------------- grad mode

def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded."""
    return _grad_enabled


def set_grad_enabled(mode: bool) -> None:
    global _grad_enabled
    _grad_enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring it on exit."""
    mode = True

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Turn off graph recording: `with cr.no_grad(): ...` or `@cr.no_grad()`.

    >>> x = cr.ones(3, requires_grad=True)
    >>> with cr.no_grad(): y = x * 2
    >>> y.requires_grad
    False
    """
    mode = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a `no_grad` block."""
    mode = True


class detect_anomaly:
    """Context in which the first op whose forward or backward makes NaN or inf raises, naming it.

    >>> with cr.detect_anomaly():
    ...     cr.tensor([-1.0], requires_grad=True).log()   # raises: log produced nan
    """

    def __enter__(self):
        global _anomaly
        self._prev = _anomaly
        _anomaly = True

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self._prev
        return False


def _check_finite(what, name, arr):
    if isinstance(arr, np.ndarray) and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = "nan" if np.isnan(arr).any() else "inf"
        raise FloatingPointError(f"detect_anomaly: {name} {what} produced {bad} (shape {arr.shape})")


# ---------------------------------------------------------------- nodes

class Node:
    """One recorded application of a primitive: what its backward rule needs, and where grads go.

    `edges[i]` is the node that produced input i, the leaf tensor itself, or None when input i
    needs no gradient. `inputs`/`arrays` hold the inputs and their arrays, except that a primitive
    with `saves_inputs = False` keeps a `Meta` (shape, dtype) for each input that requires grad.
    `grad_fn` of a tensor is its Node; `grad_fn.name` names the op.
    """
    __slots__ = ("prim", "inputs", "arrays", "params", "ans", "edges", "needs", "epoch",
                 "out_vc", "tangent", "buf", "hooks", "seq", "__weakref__")

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
_seq = 0    # creation counter: orders nodes so backward runs in reverse creation order
_epoch = 0  # in-place counter: a tensor changed in place gets the new epoch as its version


def bump_version(t):
    """Mark tensor t as changed in place (called by every in-place op)."""
    global _epoch
    _epoch += 1
    if t._vc is None:
        t._vc = [_epoch]
    else:
        t._vc[0] = _epoch


class Meta:
    """What a rule that reads no input values still needs of an input: its shape and dtype.

    Nodes of primitives with `saves_inputs = False` keep one of these in place of each input that
    requires grad, so e.g. relu's pre-activation is freed as soon as the user drops it (as PyTorch
    saves only what backward reads). Shared between nodes; holds no data.
    """
    __slots__ = ("shape", "dtype")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __array__(self, *args, **kwargs):
        raise TypeError(f"backward: a rule read the values of an input {self!r} that its "
                        f"primitive does not keep; set saves_inputs = True on the primitive")

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
        m = _METAS[shape] = _new(Meta)
        m.shape = shape
        m.dtype = a.dtype
    return m


def _strip(inputs, arrays, needs):
    """(inputs, arrays) with each input that requires grad replaced by its Meta.

    Inputs without a gradient edge (constants, tensors that do not require grad) are kept:
    nothing in the graph could recompute their values, and viz shows them.
    """
    if len(needs) == 2:   # binary ops (add, sub): no lists
        a, b = arrays
        na, nb = needs
        if na:
            a = _meta(a)
        if nb:
            b = _meta(b)
        return (a if na else inputs[0], b if nb else inputs[1]), (a, b)
    ins = list(inputs)
    arrs = list(arrays)
    for i, n in enumerate(needs):
        if n:
            ins[i] = arrs[i] = _meta(arrs[i])
    return tuple(ins), tuple(arrs)


def _wrap(prim, inputs, params, arrays, out, needs, edges):
    """Make the output Tensor and, when `needs` says a gradient may flow, its Node."""
    if prim.residual:
        out, res = out
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if _anomaly:
        _check_finite("forward", prim.name, out)
    result = _new(Tensor)
    result.data = out
    result.grad = result._vc = result._tangent = result._hooks = result.name = None
    if needs is None:
        result.requires_grad = False
        result.grad_fn = None
    else:
        global _seq
        node = _new(Node)
        node.prim = prim
        if prim.saves_inputs:
            node.inputs = inputs
            node.arrays = arrays
        elif len(needs) == 1:   # unary op on a tensor that requires grad: keep only its metadata
            node.inputs = node.arrays = (_meta(arrays[0]),)
        else:
            node.inputs, node.arrays = _strip(inputs, arrays, needs)
        node.params = params
        node.needs = needs
        node.edges = edges
        if prim.residual:
            node.ans = res
            node.out_vc = None
        elif prim.saves_ans:
            node.ans = out
            result._vc = node.out_vc = [0]
        else:
            node.ans = node.out_vc = None
        node.epoch = _epoch
        node.tangent = node.buf = node.hooks = None
        _seq += 1
        node.seq = _seq
        result.requires_grad = True
        result.grad_fn = node
    if _fwd_active:
        _push_tangent(prim, inputs, params, arrays, out, result)
    return result


def record(prim, inputs, params, arrays, out):
    """Wrap a forward result computed elsewhere (e.g. by a `Function`) and record its node."""
    needs = edges = None
    if _grad_enabled:
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
    n = len(inputs)
    if n == 1:
        x = inputs[0]
        if isinstance(x, Tensor):
            d = x.data
            out = prim.forward(d, **params) if params else prim.forward(d)
            if x.requires_grad and _grad_enabled:
                return _wrap(prim, inputs, params, (d,), out, _ONE, (x.grad_fn or x,))
            return _wrap(prim, inputs, params, (d,), out, None, None)
    elif n == 2:
        a, b = inputs
        ta = isinstance(a, Tensor)
        tb = isinstance(b, Tensor)
        if ta or tb:
            da = a.data if ta else _constant(a)
            db = b.data if tb else _constant(b)
            out = prim.forward(da, db, **params) if params else prim.forward(da, db)
            na = ta and a.requires_grad
            nb = tb and b.requires_grad
            if (na or nb) and _grad_enabled:
                return _wrap(prim, inputs, params, (da, db), out, _NEEDS2[na][nb],
                             ((a.grad_fn or a) if na else None, (b.grad_fn or b) if nb else None))
            return _wrap(prim, inputs, params, (da, db), out, None, None)
    arrays = [t.data if isinstance(t, Tensor) else _constant(t) for t in inputs]
    out = prim.forward(*arrays, **params)
    for t in inputs:
        if isinstance(t, Tensor):
            return record(prim, inputs, params, arrays, out)
    return out[0] if prim.residual else out


def _push_tangent(prim, inputs, params, arrays, out, result):
    """Forward mode: compute the output tangent J·t from the input tangents with prim.jvp."""
    global _fwd_active
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
    _fwd_active = False  # a tangent rule's own ops carry no tangents (one level of forward mode)
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
        _fwd_active = True
    if jvp is not None and jvp.shape != out.shape:
        jvp = np.broadcast_to(jvp, out.shape)
    if isinstance(jvp, np.ndarray) and jvp.dtype != out.dtype and out.dtype.kind == "f":
        jvp = jvp.astype(out.dtype)
    result._tangent = jvp
    if result.grad_fn is not None:
        result.grad_fn.tangent = jvp


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


def _accumulate_leaf(leaf, g, owned, create_graph):
    """Add `g` into `leaf.grad` (gradients accumulate across backward calls, as in PyTorch)."""
    hooks = leaf._hooks
    if hooks:
        g = _run_hooks(hooks, g)
        owned = False
    if isinstance(g, Tensor):
        if g.data.dtype != leaf.data.dtype:
            g = g.to(leaf.data.dtype)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        _post_accumulate(leaf)
        return
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
        owned = True
    if leaf.grad is None:
        leaf.grad = Tensor._make(g if owned else np.array(g), False)
    elif create_graph:
        leaf.grad = leaf.grad + Tensor._make(g, False)
    else:
        acc = leaf.grad.data
        if acc.flags.writeable and acc.shape == g.shape:
            acc += g
        else:
            leaf.grad = Tensor._make(acc + g, False)
    _post_accumulate(leaf)


def _post_accumulate(leaf):
    hooks = getattr(leaf, "_post_acc_hooks", None)   # the slot stays unset on most tensors
    if hooks:
        for hook in hooks:
            hook(leaf)


def _run_hooks(hooks, g):
    for hook in hooks:
        gt = g if isinstance(g, Tensor) else Tensor._make(g, False)
        r = hook(gt)
        if r is not None:
            g = r if isinstance(g, Tensor) else (r.data if isinstance(r, Tensor) else np.asarray(r))
    return g


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """The chain rule over the graph: upstream × local, summed where values fan out.

    Nodes are processed from a max-heap on creation order, so each node runs once, after every
    node that uses its output (the order PyTorch's engine uses). roots: output tensors;
    root_grads: their upstream gradients. capture: tensors whose gradients are returned instead
    of accumulated into `.grad` (for `autograd.grad` and the transforms).
    """
    global _grad_enabled
    heap = []
    cap_leaf = cap_node = captured = None
    if capture is not None:
        captured = [None] * len(capture)
        cap_leaf = {id(t): i for i, t in enumerate(capture) if t.grad_fn is None}
        cap_node = {id(t.grad_fn): i for i, t in enumerate(capture) if t.grad_fn is not None}
    for r, g in zip(roots, root_grads):
        node = r.grad_fn
        if node is None:
            if r.requires_grad:   # a leaf as root: d leaf / d leaf = upstream
                if cap_leaf is None:
                    _accumulate_leaf(r, g, False, create_graph)
                elif id(r) in cap_leaf:
                    i = cap_leaf[id(r)]
                    captured[i] = g if captured[i] is None else captured[i] + g
        elif node.buf is None:
            node.buf = g
            heappush(heap, (-node.seq, node))
        else:
            node.buf = node.buf + g

    prev_mode = _grad_enabled
    _grad_enabled = create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            g = node.buf
            node.buf = None
            arrays = node.arrays
            if arrays is None:
                raise RuntimeError(_FREED.format(op=node.prim.name))
            if node.hooks:
                g = _run_hooks(node.hooks, g)
            if cap_node is not None and id(node) in cap_node:
                i = cap_node[id(node)]
                captured[i] = g if captured[i] is None else captured[i] + g
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
            if _anomaly:
                _check_grads(prim.name, grads)
            if not retain_graph:
                node.inputs = node.arrays = node.ans = None
            for edge, gi, arr in zip(node.edges, grads, arrays):
                if edge is None or gi is None:
                    continue
                shape = arr.shape   # an ndarray, or the Meta standing in for it
                if gi.shape != shape:
                    gi = sum_to(gi, shape)
                if edge.__class__ is Node:
                    buf = edge.buf
                    if buf is None:
                        edge.buf = gi
                        heappush(heap, (-edge.seq, edge))
                    else:   # fan-out: the copy gate adds
                        edge.buf = buf + gi
                elif cap_leaf is None:
                    _accumulate_leaf(edge, gi, type(gi) is np.ndarray and gi is not g and gi.base is None,
                                     create_graph)
                elif id(edge) in cap_leaf:
                    i = cap_leaf[id(edge)]
                    captured[i] = gi if captured[i] is None else captured[i] + gi
            # drop this node's arrays now rather than when the next node rebinds these names
            arrays = grads = g = gi = ans = None
    finally:
        _grad_enabled = prev_mode
        for _, n in heap:   # after an error, leave no pending gradients behind
            n.buf = None
    return captured


class RetainGrad:
    """The hook `Tensor.retain_grad()` puts on a node: stores the gradient on the tensor.

    Holds the tensor weakly (no cycle tensor → node → tensor); runs after the user's hooks.
    """

    def __init__(self, tensor):
        self.ref = weakref.ref(tensor)

    def __call__(self, g):
        t = self.ref()
        if t is not None:
            g = Tensor._make(np.array(g.data), False) if not g.requires_grad else g
            t.grad = g if t.grad is None else t.grad + g


def _check_grads(name, grads):
    for gi in grads:
        if gi is not None:
            _check_finite("backward", name, gi.data if isinstance(gi, Tensor) else gi)


def _check_versions(node):
    if node.prim.saves_inputs:
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
        g = Tensor._make(g, False)
    ans = None
    if prim.saves_ans and not prim.residual:
        ans = Tensor._make(node.ans, True)
        ans.grad_fn = node
        ans._tangent = node.tangent
        ans._vc = node.out_vc
    return prim.vjp(g, ans, node.needs, *node.inputs, **node.params)


# ---------------------------------------------------------------- user-defined functions

class Context:
    """What `Function.forward` leaves for `Function.backward`: saved tensors and any attributes."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class _FunctionPrim:
    """Adapter that lets a user `Function` sit in the graph like a primitive."""
    saves_ans = False
    saves_inputs = False
    residual = False

    def __init__(self, cls, ctx):
        self.cls = cls
        self.ctx = ctx
        self.name = cls.__name__

    def vjp(self, g, ans, needs, *inputs):
        tensor_mode = isinstance(g, Tensor)
        gt = g if tensor_mode else Tensor._make(g, False)
        with enable_grad() if tensor_mode else no_grad():
            out = self.cls.backward(self.ctx, gt)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) != len(inputs):
            raise TypeError(f"{self.name}.backward returned {len(out)} gradients; "
                            f"forward took {len(inputs)} inputs")
        res = []
        for o in out:
            if o is None or tensor_mode:
                res.append(o)
            else:
                res.append(o.data if isinstance(o, Tensor) else np.asarray(o))
        return res

    def jvp(self, tangents, ans, *inputs):
        fn = getattr(self.cls, "jvp", None)
        if fn is None:
            raise NotImplementedError(
                f"{self.name} has no tangent rule for forward mode (cr.jvp); add "
                f"`@staticmethod def jvp(ctx, *tangents)` returning the output tangent")
        tangents = [None if t is None else (t if isinstance(t, Tensor) else Tensor._make(t, False))
                    for t in tangents]
        out = fn(self.ctx, *tangents)
        return out.data if isinstance(out, Tensor) and not isinstance(ans, Tensor) else out


class Function:
    """A user-defined op (a "gate") with its own forward and backward, as in PyTorch.

    >>> class Square(cr.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g
    >>> y = Square.apply(cr.tensor(3.0, requires_grad=True))
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            out = Tensor._make(np.asarray(out), False)
        prim = _FunctionPrim(cls, ctx)
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        return record(prim, tuple(args), {}, arrays, out.data)


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
            g = Tensor._make(np.array(g), False)
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
    roots = _root_grads([tensor], [gradient], create_graph)
    run_backward([tensor], roots, retain_graph, create_graph)

