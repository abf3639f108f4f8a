"""Function transforms with JAX / torch.func names: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

Each transform takes a function and returns a function (or, for jvp/vjp, evaluates it). Reverse mode
(grad, vjp, jacrev) records the graph while f runs and applies the chain rule backwards; forward
mode (jvp, jacfwd) pushes a tangent through every op in the same pass as the values and records
nothing. Transforms nest: grad(grad(f)), jacrev(grad(f)), jvp(grad(f)) (forward-over-reverse, so
`hessian` and `hvp`), grad of a jvp. Only one level of forward mode exists, so jvp of jvp raises.

Inputs may be Tensors, NumPy arrays or Python numbers. Python numbers and lists become the default
dtype (as `cr.tensor` does); NumPy arrays keep their dtype, so float64 arrays are differentiated in
float64. Results are Tensors with the inputs' shapes.
"""
from __future__ import annotations

import functools
from contextlib import nullcontext
from typing import Any, Callable, Sequence, Union

import numpy as np

from . import autograd
from . import functions as F
from .ops import shape as shape_ops
from .tensor import Tensor, as_array, get_default_dtype

ArgNums = Union[int, Sequence[int]]

# How many transforms are evaluating their function right now. Inside one, every transform builds
# differentiable results (create_graph=True), so an outer transform can differentiate them again.
_depth = 0


# ---------------------------------------------------------------- pytrees (tuples, lists, dicts)

def tree_flatten(tree: Any) -> tuple[list, Any]:
    """Leaves of nested tuples/lists/dicts, and a spec to rebuild the structure.

    >>> tree_flatten((x, [y, z]))[0]   # [x, y, z]
    """
    leaves: list = []
    spec = _flatten_into(tree, leaves)
    return leaves, spec


def _flatten_into(tree, leaves):
    if isinstance(tree, (tuple, list)):
        return (type(tree), None, tuple(_flatten_into(t, leaves) for t in tree))
    if isinstance(tree, dict):
        keys = tuple(tree)
        return (dict, keys, tuple(_flatten_into(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return None   # a leaf


def tree_unflatten(spec: Any, leaves: Sequence) -> Any:
    """Inverse of tree_flatten: put `leaves` back into the structure `spec`.

    >>> tree_unflatten(tree_flatten((1, [2, 3]))[1], [4, 5, 6])  # (4, [5, 6])
    """
    it = iter(leaves)
    return _unflatten_from(spec, it)


def _unflatten_from(spec, it):
    if spec is None:
        return next(it)
    kind, keys, children = spec
    items = [_unflatten_from(c, it) for c in children]
    if kind is dict:
        return dict(zip(keys, items))
    if kind is tuple or kind is list:
        return kind(items)
    if hasattr(kind, "_fields"):   # namedtuple
        return kind(*items)
    return kind(items)


# ---------------------------------------------------------------- inputs

_alias = shape_ops.Alias


def _as_array(x) -> np.ndarray:
    """NumPy arrays and scalars keep their dtype; Python numbers and lists get the default dtype."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    arr = as_array(x)
    if arr.dtype.kind in "iub":
        arr = arr.astype(get_default_dtype())
    return arr


def _leaf_for_grad(x, who: str, argnum: int) -> Tensor:
    """A tensor that requires grad standing for input `x`, connected to x's graph if it has one."""
    if isinstance(x, Tensor):
        if x.data.dtype.kind not in "fc":
            raise TypeError(f"{who}: argument {argnum} has dtype {x.dtype}; only floating inputs "
                            f"can be differentiated")
        if x.requires_grad:
            return _alias(x)   # tangent (if any) is pushed onto the alias by the op itself
        t = Tensor._make(x.data, True)
        if autograd.is_forward_active():
            t._tangent = x._tangent
        return t
    arr = _as_array(x)
    if arr.dtype.kind not in "fc":
        raise TypeError(f"{who}: argument {argnum} has dtype {arr.dtype}; only floating inputs "
                        f"can be differentiated")
    return Tensor._make(arr, True)


def _is_nested(leaves) -> bool:
    """True when results must stay differentiable: inside another transform, or inputs in a graph."""
    if _depth > 0 or autograd.is_forward_active():
        return True
    return any(isinstance(x, Tensor) and x.requires_grad for x in leaves)


def _argnums(argnums: ArgNums, nargs: int, who: str) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    if not nums:
        raise ValueError(f"{who}: argnums is empty; name at least one argument to differentiate")
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{who}: argnums {argnums} out of range for a call with {nargs} "
                             f"positional argument(s)")
    return tuple(a % nargs for a in nums), single


def _prepare(args, nums, who):
    """Replace the arguments in `nums` by tensors that require grad. Returns (args, leaves, specs)."""
    args = list(args)
    diff_leaves, specs = [], []
    for a in nums:
        leaves, spec = tree_flatten(args[a])
        new = [_leaf_for_grad(x, who, a) for x in leaves]
        args[a] = tree_unflatten(spec, new)
        diff_leaves.append(new)
        specs.append(spec)
    return args, diff_leaves, specs


def _const(arr) -> Tensor:
    return Tensor._make(np.asarray(arr), False)


def _detach(x):
    return Tensor._make(x.data, False) if isinstance(x, Tensor) else x


def _detach_tree(tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten(spec, [_detach(x) for x in leaves])


def _split_aux(out, has_aux, who):
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{who}: with has_aux=True f must return a pair (output, aux), got "
                        f"{type(out).__name__}")
    return out[0], out[1]


def _finish_grad(g, x, nested):
    """Gradient `g` of input leaf `x`: zeros if unused, a constant at top level, x's dtype."""
    if g is None:
        return _const(np.zeros_like(x.data))
    if nested:
        return g if g.dtype == x.dtype else g.to(x.dtype)
    data = g.data if g.data.dtype == x.data.dtype else g.data.astype(x.data.dtype)
    return _const(data)


# ---------------------------------------------------------------- reverse mode

def _run_recorded(f, args, kwargs, nums, who):
    """Call f with the arguments in `nums` replaced by fresh leaves, recording the graph one
    transform level deeper. Returns (out, diff_leaves, specs)."""
    global _depth
    _depth += 1
    try:
        with autograd.enable_grad():
            new_args, diff_leaves, specs = _prepare(args, nums, who)
            out = f(*new_args, **kwargs)
    finally:
        _depth -= 1
    return out, diff_leaves, specs


def _value_and_grad(f, args, kwargs, argnums, has_aux, who):
    nums, single = _argnums(argnums, len(args), who)
    nested = _is_nested(tree_flatten([args[a] for a in nums])[0])
    out, diff_leaves, specs = _run_recorded(f, args, kwargs, nums, who)
    out, aux = _split_aux(out, has_aux, who)
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: f must return a scalar Tensor, got {type(out).__name__}")
    if out.data.size != 1:
        raise ValueError(f"{who}: f must return a scalar (one element), got shape {out.shape}; "
                         f"use cr.jacobian or cr.vjp for functions with array outputs")
    flat = [x for leaves in diff_leaves for x in leaves]
    if out.requires_grad:
        gs = autograd.grad(out, flat, create_graph=nested, retain_graph=nested, allow_unused=True)
    else:   # f did not use its inputs (or ran under no_grad): the gradient is zero
        gs = [None] * len(flat)
    gs = [_finish_grad(g, x, nested) for g, x in zip(gs, flat)]
    it = iter(gs)
    grads = tuple(tree_unflatten(spec, [next(it) for _ in leaves])
                  for spec, leaves in zip(specs, diff_leaves))
    grads = grads[0] if single else grads
    if not nested:
        out, aux = _detach(out), _detach_tree(aux)
    return out, aux, grads


def value_and_grad(f: Callable, argnums: ArgNums = 0, has_aux: bool = False) -> Callable:
    """f ↦ a function returning (f(x), ∇f(x)); ((f(x), aux), ∇f(x)) with has_aux.

    >>> cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    (tensor(5., dtype=float64), tensor([2., 4.], dtype=float64))
    """
    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        out, aux, grads = _value_and_grad(f, args, kwargs, argnums, has_aux, "value_and_grad")
        return ((out, aux) if has_aux else out), grads
    return value_and_grad_f


def grad(f: Callable, argnums: ArgNums = 0, has_aux: bool = False) -> Callable:
    """f ↦ ∇f: the gradient of scalar-valued f with respect to argument(s) `argnums`.

    Gradients have the inputs' shapes (a tuple of them for a tuple argnums; the same nesting for
    tuple/list/dict arguments). With has_aux f returns (out, aux) and grad returns (∇f, aux).

    >>> cr.grad(cr.tanh)(0.5)                    # 1 - tanh(0.5)² = 0.7864
    >>> cr.grad(cr.grad(cr.tanh))(0.5)           # -2 tanh(0.5)(1 - tanh²(0.5)) = -0.7269
    """
    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        _, aux, grads = _value_and_grad(f, args, kwargs, argnums, has_aux, "grad")
        return (grads, aux) if has_aux else grads
    return grad_f


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """(f(*primals), vjp_fn) where vjp_fn(v) = vᵀJ, one gradient per primal (a tuple).

    v has the structure and shapes of f's output. vjp_fn may be called many times.
    With has_aux returns (out, vjp_fn, aux).

    >>> out, vjp_fn = cr.vjp(lambda x: x * x, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 1.0]))             # (tensor([2., 4.], dtype=float64),)
    """
    who = "vjp"
    nums = tuple(range(len(primals)))
    nested = _is_nested(tree_flatten(list(primals))[0])
    out, diff_leaves, specs = _run_recorded(f, primals, {}, nums, who)
    out, aux = _split_aux(out, has_aux, who)
    out_leaves, out_spec = tree_flatten(out)
    for o in out_leaves:
        if not isinstance(o, Tensor):
            raise TypeError(f"vjp: f must return Tensors (in tuples/lists/dicts), got "
                            f"{type(o).__name__}")
    flat = [x for leaves in diff_leaves for x in leaves]

    def vjp_fn(cotangents):
        ct_leaves, ct_spec = tree_flatten(cotangents)
        if not _same_structure(ct_spec, out_spec):
            raise ValueError(f"vjp_fn: cotangents have structure {_show_spec(ct_spec)} but f's "
                             f"output has {_show_spec(out_spec)}")
        roots, cts = [], []
        make_graph = nested
        for i, (o, v) in enumerate(zip(out_leaves, ct_leaves)):
            if isinstance(v, Tensor):
                make_graph = make_graph or v.requires_grad
            else:
                v = np.asarray(v, dtype=o.data.dtype)
            if v.shape != o.shape:
                raise ValueError(f"vjp_fn: cotangent {i} has shape {tuple(v.shape)} but output {i} "
                                 f"has shape {o.shape}")
            if o.requires_grad:
                roots.append(o)
                cts.append(v if isinstance(v, Tensor) else _const(v))
        if roots:
            gs = autograd.grad(roots, flat, grad_outputs=cts, retain_graph=True,
                               create_graph=make_graph, allow_unused=True)
        else:
            gs = [None] * len(flat)
        gs = [_finish_grad(g, x, make_graph) for g, x in zip(gs, flat)]
        it = iter(gs)
        return tuple(tree_unflatten(spec, [next(it) for _ in leaves])
                     for spec, leaves in zip(specs, diff_leaves))

    if not nested:
        out, aux = _detach_tree(out), _detach_tree(aux)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _same_structure(a, b) -> bool:
    """Specs equal up to tuple vs list (a list of cotangents for a tuple of outputs is fine)."""
    return _loose(a) == _loose(b)


def _loose(spec):
    if spec is None:
        return None
    kind, keys, children = spec
    kind = tuple if issubclass(kind, (tuple, list)) else kind
    return (kind, keys, tuple(_loose(c) for c in children))


def _show_spec(spec) -> str:
    if spec is None:
        return "leaf"
    kind, keys, children = spec
    inner = ", ".join(_show_spec(c) for c in children)
    return f"{kind.__name__}({inner})"


# ---------------------------------------------------------------- forward mode

def _tangent_array(t, x: Tensor, i: int, connected: bool):
    """Tangent for primal leaf `x`: None (zero), an array of x's shape/dtype, or a Tensor in a graph."""
    if t is None:
        return None
    if isinstance(t, Tensor):
        if connected and t.requires_grad:
            tt = t
        else:
            tt = t.data
    else:
        tt = np.asarray(t)
    if tuple(tt.shape) != x.shape:
        raise ValueError(f"jvp: tangent {i} has shape {tuple(tt.shape)} but its primal has shape "
                         f"{x.shape}; tangents must match the primals' shapes")
    if x.data.dtype.kind not in "fc":
        return None    # integer/boolean inputs (indices, masks) have no tangent
    if isinstance(tt, np.ndarray) and tt.dtype != x.data.dtype:
        tt = tt.astype(x.data.dtype)
    return tt


def _primal_tensor(p) -> Tensor:
    """A tensor for primal `p` that may carry a tangent without touching the caller's tensor."""
    if isinstance(p, Tensor):
        return _alias(p) if p.requires_grad else Tensor._make(p.data, False)
    return Tensor._make(_as_array(p), False)


def _jvp_core(f, args, tangents, kwargs, has_aux=False):
    """Evaluate f(*args) once with tangents pushed through. tangents: per arg a pytree or None.

    Returns (out_leaves, tangent_leaves, out_spec, aux, nested).
    """
    global _depth
    if autograd.is_forward_active():
        raise NotImplementedError(
            "jvp: forward mode inside forward mode (jvp of jvp, jacfwd of jacfwd, hessian of a "
            "jvp) is not supported; use reverse mode (cr.grad, cr.jacrev) for one of the two")
    leaves_all = tree_flatten(list(args))[0]
    connected = any(isinstance(x, Tensor) and x.requires_grad for x in leaves_all)
    nested = connected or _depth > 0
    new_args, made = list(args), []
    # Aliases are recorded with forward mode off: they get exactly the tangent given below.
    with autograd.enable_grad() if connected else nullcontext():
        for i, (a, t) in enumerate(zip(args, tangents)):
            if t is None:
                continue
            leaves, spec = tree_flatten(a)
            t_leaves, t_spec = tree_flatten(t)
            if not _same_structure(t_spec, spec):
                raise ValueError(f"jvp: tangent {i} has structure {_show_spec(t_spec)} but its "
                                 f"primal has {_show_spec(spec)}")
            new = []
            for x, tx in zip(leaves, t_leaves):
                xt = _primal_tensor(x)
                xt._tangent = _tangent_array(tx, xt, i, connected)
                new.append(xt)
                made.append(xt)
            new_args[i] = tree_unflatten(spec, new)
    _depth += 1
    prev_fwd = autograd.set_forward_active(True)
    out_leaves = []
    try:
        # At top level f runs under no_grad: parameters it closes over record no graph.
        with nullcontext() if nested else autograd.no_grad():
            out = f(*new_args, **kwargs)
        out, aux = _split_aux(out, has_aux, "jvp")
        out_leaves, out_spec = tree_flatten(out)
        tans = [o._tangent if isinstance(o, Tensor) else None for o in out_leaves]
    finally:
        autograd.set_forward_active(prev_fwd)
        _depth -= 1
        # a stale tangent left on a tensor would be read by the next forward-mode pass
        for xt in made + [o for o in out_leaves if isinstance(o, Tensor)]:
            xt._tangent = None
    outs, touts = [], []
    for o, tt in zip(out_leaves, tans):
        if not isinstance(o, Tensor):
            if o is None or isinstance(o, str):
                raise TypeError(f"jvp: f must return Tensors or numbers, got {type(o).__name__}")
            o = _const(o)
        if tt is None:
            tt = _const(np.zeros_like(o.data))
        elif not isinstance(tt, Tensor):
            tt = _const(tt if tt.dtype == o.data.dtype or o.data.dtype.kind not in "fc"
                        else tt.astype(o.data.dtype))
        elif not nested:
            tt = _const(tt.data)
        outs.append(o if nested else _detach(o))
        touts.append(tt)
    if not nested:
        aux = _detach_tree(aux)
    return outs, touts, out_spec, aux, nested


def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """(f(*primals), J·tangents) in one forward pass that records no graph.

    primals and tangents are tuples (or lists) of arguments with matching structure; a tangent may
    be None for zero. Outputs may be Tensors in tuples/lists/dicts; tangents come back alike.
    With has_aux returns (out, tangent_out, aux).

    >>> cr.jvp(cr.sin, (np.array(0.0),), (np.array(1.0),))   # (sin 0, cos 0 · 1) = (0., 1.)
    """
    if not isinstance(primals, (tuple, list)):
        primals, tangents = (primals,), (tangents,)
    if not isinstance(tangents, (tuple, list)) or len(tangents) != len(primals):
        raise ValueError(f"jvp: expected one tangent per primal ({len(primals)}), got "
                         f"{len(tangents) if isinstance(tangents, (tuple, list)) else 1}")
    outs, touts, spec, aux, _ = _jvp_core(f, tuple(primals), tuple(tangents), {}, has_aux)
    result = (tree_unflatten(spec, outs), tree_unflatten(spec, touts))
    return result + (aux,) if has_aux else result


def hvp(f: Callable, x: Any, v: Any) -> Tensor:
    """Hessian-vector product H(x)·v of scalar f, without building H (forward-over-reverse).

    >>> cr.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 0.0]))  # [6., 0.]
    """
    if not isinstance(x, (tuple, list, dict)) and np.shape(v) != np.shape(x):
        raise ValueError(f"hvp: v has shape {np.shape(v)} but x has shape {np.shape(x)}; they "
                         f"must match")
    return jvp(grad(f), (x,), (v,))[1]


# ---------------------------------------------------------------- Jacobians

_MODES = ("auto", "rev", "fwd")


def _stack(parts, nested):
    if nested:
        return F.stack([p if isinstance(p, Tensor) else _const(p) for p in parts])
    return np.stack([p.data if isinstance(p, Tensor) else p for p in parts])


def _jacobian_rev(out_leaves, flat, nested):
    """Row by row: one backward pass per output element (vᵀJ with v a unit vector)."""
    jac = []
    for o in out_leaves:
        rows = [[] for _ in flat]
        for i in range(o.data.size):
            if o.requires_grad:
                e = np.zeros(o.data.size, dtype=o.data.dtype)
                e[i] = 1
                gs = autograd.grad(o, flat, grad_outputs=_const(e.reshape(o.shape)),
                                   retain_graph=True, create_graph=nested, allow_unused=True)
            else:
                gs = [None] * len(flat)
            for r, g, x in zip(rows, gs, flat):
                r.append(_finish_grad(g, x, nested))
        jac.append([_finish_rows(r, o, x, nested) for r, x in zip(rows, flat)])
    return jac


def _finish_rows(rows, o, x, nested):
    shape = o.shape + x.shape
    if not rows:
        return _const(np.zeros(shape, dtype=x.data.dtype))
    stacked = _stack(rows, nested)
    return stacked.reshape(shape) if nested else _const(stacked.reshape(shape))


def _jacobian_fwd(f, args, kwargs, nums):
    """Column by column: one forward pass per input element (J·e with e a unit vector)."""
    cols = None
    primals = [args[a] for a in nums]
    for k, a in enumerate(nums):
        x = primals[k]
        xt = x if isinstance(x, Tensor) else Tensor._make(_as_array(x), False)
        per_out = None
        for j in range(xt.data.size):
            e = np.zeros(xt.data.size, dtype=xt.data.dtype)
            e[j] = 1
            tangents = [None] * len(args)
            tangents[a] = e.reshape(xt.shape)
            outs, touts, spec, _, nested = _jvp_core(f, args, tangents, kwargs)
            if per_out is None:
                per_out = [[] for _ in outs]
            for lst, t in zip(per_out, touts):
                lst.append(t)
        if per_out is None:   # an empty input: no columns; shapes come from one plain call
            outs, _, spec, _, nested = _jvp_core(f, args, [None] * len(args), kwargs)
            per_out = [[] for _ in outs]
        if cols is None:
            cols = [[None] * len(nums) for _ in outs]
        for oi, (o, lst) in enumerate(zip(outs, per_out)):
            shape = o.shape + xt.shape
            if not lst:
                cols[oi][k] = _const(np.zeros(shape, dtype=o.data.dtype))
            elif nested:
                cols[oi][k] = F.stack(lst, axis=-1).reshape(shape)
            else:
                cols[oi][k] = _const(np.stack([t.data for t in lst], axis=-1).reshape(shape))
    return cols, spec


def _jacobian(f, args, kwargs, argnums, mode):
    who = "jacobian"
    if mode not in _MODES:
        raise ValueError(f"jacobian: mode must be one of {_MODES}, got {mode!r}")
    nums, single = _argnums(argnums, len(args), who)
    for a in nums:
        if isinstance(args[a], (tuple, list, dict)):
            raise TypeError(f"jacobian: argument {a} is a {type(args[a]).__name__}; pass one "
                            f"Tensor or array per differentiated argument")
    per_out = spec = None
    if mode != "fwd":
        nested = _is_nested([args[a] for a in nums])
        out, diff_leaves, _ = _run_recorded(f, args, kwargs, nums, who)
        out_leaves, spec = tree_flatten(out)
        for o in out_leaves:
            if not isinstance(o, Tensor):
                raise TypeError(f"jacobian: f must return Tensors, got {type(o).__name__}")
        flat = [leaves[0] for leaves in diff_leaves]
        n_out = sum(o.data.size for o in out_leaves)
        n_in = sum(x.data.size for x in flat)
        # auto: fewer passes wins; forward mode is unavailable while a jvp one level up runs
        if mode == "rev" or n_out <= n_in or autograd.is_forward_active():
            per_out = [tuple(j) for j in _jacobian_rev(out_leaves, flat, nested)]
    if per_out is None:
        cols, spec = _jacobian_fwd(f, args, kwargs, nums)
        per_out = [tuple(c) for c in cols]
    return tree_unflatten(spec, [p[0] if single else p for p in per_out])


def jacobian(f: Callable, argnums: ArgNums = 0, mode: str = "auto") -> Callable:
    """f ↦ its Jacobian, shaped out.shape + in.shape (a tuple over inputs for a tuple argnums).

    mode "rev" builds it row by row (one backward pass per output element), "fwd" column by column
    (one forward-mode pass per input element), "auto" picks whichever needs fewer passes.
    Outputs may be Tensors in tuples/lists/dicts: the result has that structure.

    >>> cr.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))   # [[2., 0.], [0., 4.]]
    """
    if mode not in _MODES:
        raise ValueError(f"jacobian: mode must be one of {_MODES}, got {mode!r}")

    @functools.wraps(f)
    def jacobian_f(*args, **kwargs):
        return _jacobian(f, args, kwargs, argnums, mode)
    return jacobian_f


def jacrev(f: Callable, argnums: ArgNums = 0) -> Callable:
    """Jacobian by reverse mode: one backward pass per output element. See `jacobian`.

    >>> cr.jacrev(cr.sin)(np.zeros(2))  # [[1., 0.], [0., 1.]]
    """
    return jacobian(f, argnums, mode="rev")


def jacfwd(f: Callable, argnums: ArgNums = 0) -> Callable:
    """Jacobian by forward mode: one tangent pass per input element. See `jacobian`.

    >>> cr.jacfwd(cr.sin)(np.zeros(2))  # [[1., 0.], [0., 1.]]
    """
    return jacobian(f, argnums, mode="fwd")


def hessian(f: Callable, argnums: ArgNums = 0) -> Callable:
    """f ↦ its Hessian (shape in.shape + in.shape), forward-over-reverse: jacfwd(grad(f)).

    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> cr.hessian(lambda x: x @ (A @ x))(np.ones(2))          # A + Aᵀ = [[2, 2], [2, 6]]
    """
    return jacfwd(grad(f, argnums), argnums)
