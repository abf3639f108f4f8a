"""Writing the body: one statement per equation, with buffer planning.

Buffer planning: an elementwise equation whose primitive is one NumPy ufunc (add, mul, tanh, ...)
and whose output is a temporary writes into a preallocated buffer with `out=`; a buffer is
reused as soon as the value in it is dead (liveness over the straight-line program). Values that
leave the step (outputs, write-backs) get fresh arrays, so nothing a caller holds is overwritten.
"""
from __future__ import annotations

import numpy as np

from ..program import Var
from . import fuse, passes

# primitive name -> the ufunc its out= form calls (relu: maximum with 0; comparisons: bool out)
_COMPARE = fuse._COMPARE
UFUNCS = {**fuse.UFUNCS, "relu": np.maximum, **{n: getattr(np, n) for n in _COMPARE}}


def _last_uses(eqns, roots):
    last = {}
    for k, e in enumerate(eqns):
        for x in e.inputs:
            if isinstance(x, Var):
                last[id(x)] = k
    for v in roots:
        if isinstance(v, Var):
            last[id(v)] = len(eqns)
    return last


def _bufferable(e, escaping) -> bool:
    """An equation that can write into a buffer: one ufunc, an output of its own shape/dtype,
    not leaving the step, and every array input already of that dtype (so `out=` computes in the
    same precision as the eager expression)."""
    if e.prim.name not in UFUNCS or id(e.out) in escaping or e.params or not e.out.shape:
        return False
    if e.prim.name == "relu" and e.out.dtype.kind != "f":
        return False
    if e.prim.name in _COMPARE:   # bool out of arrays of one dtype (and Python scalars)
        kinds = {x.dtype for x in e.inputs if isinstance(x, Var)}
        return e.out.dtype.kind == "b" and len(kinds) == 1 and all(
            isinstance(x, Var) or type(x) in (int, float) for x in e.inputs)
    for x in e.inputs:
        # a bool mask meets a float array in the float loop, with or without out=
        if isinstance(x, Var) and x.dtype != e.out.dtype and not (
                x.dtype.kind == "b" and e.out.dtype.kind == "f" and x.shape == e.out.shape):
            return False
        if isinstance(x, np.ndarray) and (x.dtype != e.out.dtype or x.ndim):
            return False
        if isinstance(x, np.generic) and x.dtype != e.out.dtype:
            return False
        if not isinstance(x, (Var, int, float, np.ndarray, np.floating)) or isinstance(x, bool):
            return False
    return any(isinstance(x, Var) for x in e.inputs)


def _lifetimes(eqns, roots, candidates, viewing):
    """For each buffer candidate: the index of the last equation reading it or a value that may
    be a view of it, and whether such a value leaves the step."""
    last = _last_uses(eqns, roots)
    groups, members = {}, {}
    for e in eqns:
        if getattr(e, "kernel", None) is not None:
            for v in e.outputs:
                if id(v) in candidates:
                    groups[id(v)] = {id(v)}
                    members.setdefault(id(v), []).append(id(v))
            continue
        o = id(e.out)
        if o in candidates:
            groups[o] = {o}
        elif o in viewing:
            g = set()
            for x in e.inputs:
                if isinstance(x, Var):
                    g |= groups.get(id(x), set())
            if g:
                groups[o] = g
        for c in groups.get(o, ()):
            members.setdefault(c, []).append(o)
    escaping = {id(v) for v in roots if isinstance(v, Var)}
    end, escapes = {}, set()
    for c, ms in members.items():
        end[c] = max(last.get(m, -1) for m in ms)
        if any(m in escaping for m in ms):
            escapes.add(c)
    return end, escapes


def emit(src, eqns, roots, inputs, options):
    """Fill src.body; returns the return-tuple expressions."""
    escaping = {id(v) for v in roots if isinstance(v, Var)}
    viewing = options.get("viewing", set())
    if options.get("fuse", True):
        eqns = fuse.fuse(src, eqns, escaping, options)
    planning = options.get("buffers", True)
    # in-place updates: a write-back value computed from its own target, when the target's old
    # value (and every view of it) is dead by then, is computed straight into the target's array
    writes = options.get("writes", {}) if options.get("inplace", True) else {}
    targets = {id(r) for r in writes.values()}
    # the write-back values count as read at the end (copies there read them)
    t_end, t_esc = _lifetimes(eqns, roots[options.get("n_out", 0):], targets, viewing)
    returned = {id(v) for v in roots[:options.get("n_out", 0)] if isinstance(v, Var)}
    src.inplace = {}
    pos = {}
    for k, e in enumerate(eqns):
        for o in (e.outputs if getattr(e, "kernel", None) is not None else [e.out]):
            pos[id(o)] = (k, e)
    for vid, r in writes.items():
        k, e = pos.get(vid, (None, None))
        if e is None or vid in returned or id(r) in t_esc or t_end.get(id(r), -1) > k:
            continue
        if not any(x is r for x in e.inputs):
            continue
        if getattr(e, "kernel", None) is not None or (planning and _bufferable(e, set())):
            src.inplace[vid] = r
    src.directed = _direct(src, options.get("outs", {}), pos, returned, viewing)
    cands = {id(e.out) for e in eqns if planning and getattr(e, "kernel", None) is None
             and _bufferable(e, escaping) and id(e.out) not in src.inplace}
    # matmuls (and linear layers) into buffers; kernel outputs that stay inside the step too
    mm = {id(e.out) for e in eqns if planning and getattr(e, "kernel", None) is None
          and id(e.out) not in escaping and id(e.out) not in src.directed
          and (_matmul_form(e) is not None or e.prim.name == "sum" and _out_form(e))}
    kouts = {id(v) for e in eqns if planning and getattr(e, "kernel", None) is not None
             for v in e.outputs if id(v) not in escaping and id(v) not in src.inplace}
    end, escapes = _lifetimes(eqns, roots, cands | mm | kouts, viewing)
    cands -= escapes
    mm -= escapes
    kouts -= escapes
    residual_of = {id(e.inputs[0]) for e in eqns if e.prim is passes.RESIDUAL}
    src.escaping = escaping
    # a softmax residual read by one equation only: that one may overwrite it
    uses = {}
    for e in eqns:
        for x in e.inputs:
            if isinstance(x, Var):
                uses[id(x)] = uses.get(id(x), 0) + 1
    per_ce = {}
    for e in eqns:
        if e.prim is passes.RESIDUAL:
            per_ce[id(e.inputs[0])] = per_ce.get(id(e.inputs[0]), 0) + 1
    owned = {id(e.out) for e in eqns if e.prim is passes.RESIDUAL and per_ce[id(e.inputs[0])] == 1
             and id(e.out) not in escaping and id(e.out) not in viewing}
    release = {}       # equation index -> [(key, buffer)] freed after it
    free = {}          # (shape, dtype) -> [buffer names]
    holder = {}        # id(Var) -> buffer name
    n_buf = 0

    def acquire(v):
        nonlocal n_buf
        key = (v.shape, v.dtype.str)
        pool = free.get(key)
        if pool:
            buf, reused = pool.pop(), "reuses "
        else:
            buf, reused = f"_buf{n_buf}", ""
            n_buf += 1
            src.namespace[buf] = np.empty(v.shape, v.dtype)
            src.consts.append((buf, f"buffer {v.dtype.name}{list(v.shape)}"))
        holder[id(v)] = buf
        release.setdefault(max(end.get(id(v), k), k), []).append((key, buf))
        return buf, reused + buf if reused else ""

    for k, e in enumerate(eqns):
        ce = None   # cross-entropy lines (None: the generic call below)
        if e.prim.name in ("cross_entropy", "cross_entropy_grad"):
            p = e.inputs[0]
            ce = src.cross_entropy(e, id(e.out) in residual_of,
                                   e.prim.name == "cross_entropy_grad" and id(p) in owned
                                   and uses.get(id(p)) == 1)
        if getattr(e, "kernel", None) is not None:
            lent = set()
            for v in e.outputs:
                if id(v) not in kouts:
                    continue
                # a kernel reads element i of every input before writing element i of its
                # outputs (as it does updating a parameter in place): an input dying here
                # may lend its buffer
                x = next((x for x in e.inputs if isinstance(x, Var) and id(x) in holder
                          and end.get(id(x)) == k and id(x) not in lent
                          and x.shape == v.shape and x.dtype == v.dtype), None)
                if x is not None:
                    lent.add(id(x))
                    buf = holder[id(x)]
                    release[k] = [r for r in release.get(k, []) if r[1] != buf]
                    holder[id(v)] = buf
                    release.setdefault(max(end.get(id(v), k), k), []).append(
                        ((v.shape, v.dtype.str), buf))
                else:
                    buf = acquire(v)[0]
                src.inplace[id(v)] = Var(v.shape, v.dtype, buf)
            src.body += e.kernel_lines(src)
        elif id(e.out) in mm:
            buf, reused = acquire(e.out)
            note = f"{e.prim.name}{' (backward)' if e.backward_of is not None else ''}" \
                   f"{', ' + reused if reused else ''}"
            form = _matmul_form(e) or _out_form(e)
            params = {"axis": repr(e.params.get("axis")),
                      "keepdims": repr(e.params.get("keepdims", False))}
            src.body.append(f"{e.out.name} = " + form.format(
                *(src.operand(x) for x in e.inputs), out=buf, **params) + f"  # {note}")
        elif id(e.out) in src.directed:
            src.body.append(_directed_line(src, e, src.directed[id(e.out)]))
        elif id(e.out) in src.inplace:
            r = src.inplace[id(e.out)]
            src.body.append(f"{e.out.name} = {_ufunc_call(src, e, r.name)}  # {e.prim.name}, "
                            f"{r.name} updated in place")
        elif id(e.out) in cands:
            key = (e.out.shape, e.out.dtype.str)
            # an input dying here may lend its buffer: elementwise ufuncs may write in place
            for x in e.inputs:
                if isinstance(x, Var) and id(x) in holder and end.get(id(x)) == k \
                        and x.shape == e.out.shape and x.dtype == e.out.dtype:
                    buf = holder[id(x)]
                    release[k] = [r for r in release.get(k, []) if r[1] != buf]
                    reused = f"in place over {x.name}"
                    holder[id(e.out)] = buf
                    release.setdefault(max(end.get(id(e.out), k), k), []).append((key, buf))
                    break
            else:
                buf, reused = acquire(e.out)
            note = f"{e.prim.name}{' (backward)' if e.backward_of is not None else ''}" \
                   f"{', ' + reused if reused else ''}"
            src.body.append(f"{e.out.name} = {_ufunc_call(src, e, buf)}  # {note}")
        elif ce is not None:
            src.body += ce
        elif e.prim is passes.RESIDUAL:
            src.body.append(f"{e.out.name} = {e.inputs[0].name}_residual  # softmax (backward): "
                            f"the cross-entropy's residual")
        else:
            comment = "" if e.backward_of is None else "  # backward"
            expr = src.expression(e)
            if id(e.out) in residual_of and expr.endswith("[0]"):
                src.body.append(f"{e.out.name}, {e.out.name}_residual = {expr[:-3]}{comment}")
            else:
                src.body.append(f"{e.out.name} = {expr}{comment}")
        for key, buf in release.pop(k, ()):
            free.setdefault(key, []).append(buf)
    src.buffers = n_buf
    # a constant leaving the step is made at each call (never a shared module-level array)
    return [v.name if isinstance(v, Var) else src.constant(v) for v in roots]


def _direct(src, outs, pos, returned, viewing):
    """Values written straight into a `.grad` array the step is given (`out=`): kernel outputs,
    ufuncs, matmuls and sums of the array's shape and dtype. Returns {id(Var): target}; kernel
    outputs go into src.inplace instead (the kernel writes them through a flat view)."""
    directed = {}
    for vid, g in outs.items():
        k, e = pos.get(vid, (None, None))
        if e is None or vid in returned or vid in src.inplace or vid in viewing:
            continue
        if getattr(e, "kernel", None) is not None:
            var = next(o for o in e.outputs if id(o) == vid)
            if var.shape == g.shape and var.dtype == g.dtype:
                src.inplace[vid] = g
            continue
        if e.out.shape != g.shape or e.out.dtype != g.dtype:
            continue
        if _bufferable(e, set()) or e.prim.name in ("matmul", "sum") and _out_form(e):
            directed[vid] = g
    return directed


def _ufunc_call(src, e, out):
    """`np.<ufunc>(inputs, out=out)` for a bufferable equation. A Python number beside float
    arrays of one dtype is what NumPy makes of it (NEP 50: that dtype), bound once as a 0-d
    array: a ufunc converts a Python scalar at every call (~2.5k instructions)."""
    kinds = {x.dtype for x in e.inputs if isinstance(x, Var)}
    dt = kinds.pop() if len(kinds) == 1 else None
    typed = dt is not None and dt.kind == "f" and (e.prim.name in _COMPARE
                                                   or e.out.dtype == dt)

    def arg(x):
        if typed and type(x) in (int, float):
            return src.scalar(np.array(x, dt))
        return src.operand(x)
    args = [arg(x) for x in e.inputs]
    if e.prim.name == "relu":
        args.append(src.scalar(np.array(0, e.out.dtype)) if e.out.dtype.kind == "f" else "0")
    return f"np.{UFUNCS[e.prim.name].__name__}({', '.join(args)}, out={out})"


def _out_form(e):
    """The `out=` form of a matmul or a sum equation, or None."""
    ins = e.inputs
    if e.prim.name == "matmul" and len(ins) == 2 and all(isinstance(x, Var) and x.shape
                                                        for x in ins):
        return _outer(ins) if ins[0].dtype == ins[1].dtype == e.out.dtype and _outer(ins) \
            else "np.matmul({0}, {1}, out={out})"
    if e.prim.name == "sum" and isinstance(ins[0], Var) and ins[0].dtype == e.out.dtype \
            and set(e.params) <= {"axis", "keepdims"} and e.out.shape:
        return "np.add.reduce({0}, axis={axis}, keepdims={keepdims}, out={out})"
    return None


def _directed_line(src, e, g):
    note = f"  # {e.prim.name}{' (backward)' if e.backward_of is not None else ''}, " \
           f"into {g.name}"
    if e.prim.name in UFUNCS:
        return f"{e.out.name} = {_ufunc_call(src, e, g.name)}{note}"
    params = {"axis": e.params.get("axis"), "keepdims": e.params.get("keepdims", False)}
    form = _out_form(e).format(*(src.operand(x) for x in e.inputs), out=g.name,
                               **{k: repr(v) for k, v in params.items()})
    return f"{e.out.name} = {form}{note}"


def _outer(ins):
    """A float (n, 1) @ (1, m) matmul as the outer product it is: each element one rounded
    product added to 0 (as the matmul's sum over one term starts: -0.0 becomes +0.0), the same
    bits as BLAS, without its setup for a product with nothing to sum."""
    a, b = ins
    if len(a.shape) == len(b.shape) == 2 and a.shape[1] == 1 and b.shape[0] == 1 \
            and a.dtype.kind == "f":
        return "np.add(np.multiply({0}, {1}, out={out}), 0.0, out={out})"
    return None


def _matmul_form(e):
    """`np.matmul(..., out=)` for a matmul or a linear layer (then the bias added in place): the
    same BLAS call and the same addition as the eager expression, without allocating."""
    ins = e.inputs
    if not e.out.shape or e.params:
        return None
    if e.prim.name == "matmul" and len(ins) == 2 and all(isinstance(x, Var) and x.shape
                                                        and x.dtype == e.out.dtype for x in ins):
        return _outer(ins) or "np.matmul({0}, {1}, out={out})"
    if e.prim.name == "linear" and len(ins) == 3 and all(isinstance(x, Var) and
                                                          x.dtype == e.out.dtype
                                                          for x in ins[:2]) \
            and len(ins[1].shape) == 2 and len(ins[0].shape) >= 1:
        if ins[2] is None:
            return "np.matmul({0}, {1}.T, out={out})"
        b = ins[2]
        if isinstance(b, Var) and b.dtype == e.out.dtype and len(b.shape) <= len(e.out.shape):
            return "np.add(np.matmul({0}, {1}.T, out={out}), {2}, out={out})"
    return None
