"""`flat_code(f, *inputs)`: trace f once and write it out as a standalone NumPy function, forward one
op per line, then backward one gradient per line, in the lecture's flat-code style.

The text of each line comes from the primitive itself (`flat_forward`, `flat_vjp` class attributes),
so a new op brings its own export. Broadcast gradients are summed back with an emitted `_sum_to`.
"""
from __future__ import annotations

import inspect
import keyword
import re

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .flat_helpers import HELPERS, NEEDS


def literal(v) -> str:
    """Python source that evaluates to `v` (params and constants of the traced graph)."""
    if v is None or v is Ellipsis or isinstance(v, (bool, str)):
        return repr(v)
    if isinstance(v, (int, np.integer)):
        return repr(int(v))
    if isinstance(v, (float, np.floating)) and np.ndim(v) == 0 and not isinstance(v, np.ndarray):
        return repr(float(v)) if np.isfinite(v) else f"float({str(float(v))!r})"
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, slice):
        return f"slice({literal(v.start)}, {literal(v.stop)}, {literal(v.step)})"
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, np.ndarray):
        if v.ndim == 0 and v.dtype in (np.float64, np.int64, np.bool_):
            return literal(v.item())
        if v.dtype.kind in "fc" and (v.size > 64 or not np.isfinite(v).all()):
            # NOTE: exact bytes keep big or non-finite constants bit-identical and the line short.
            return (f"np.frombuffer(bytes.fromhex({v.tobytes().hex()!r}), "
                    f"dtype={v.dtype.str!r}).reshape({literal(v.shape)})")
        if v.ndim == 0:
            return f"np.{v.dtype.name}({literal(v.item())})"
        return f"np.array({v.tolist()!r}, dtype={v.dtype.name!r})"
    raise TypeError(f"flat_code: cannot write a constant of type {type(v).__name__} as source")


def _params(prim, params):
    """The node's params with the forward's defaults filled in, as source literals."""
    full = {}
    try:
        sig = inspect.signature(prim.forward)
        for p in sig.parameters.values():
            if p.default is not inspect.Parameter.empty:
                full[p.name] = p.default
    except (TypeError, ValueError):
        pass
    full.update(params)
    return {k: literal(v) for k, v in full.items()}


def templates(prim, ndims):
    """(forward template, per-input VJP templates) of a primitive, or an error naming why not."""
    fwd = getattr(prim, "flat_forward", None)
    if fwd is None:
        why = getattr(prim, "flat_reason", None) or (
            "it is a user-defined cr.Function" if isinstance(prim, autograd._FunctionPrim)
            else "it has no flat_forward/flat_vjp templates")
        raise NotImplementedError(f"flat_code: op '{prim.name}' cannot be exported: {why}")
    vjp = prim.flat_vjp
    for cond, alt in getattr(prim, "flat_vjp_cases", ()):
        if eval(cond, {"__builtins__": {}}, {"n": ndims}):   # our own class-attribute strings
            vjp = alt
            break
    if isinstance(vjp, str):   # one template for any number of inputs, with {i}
        vjp = tuple(vjp.replace("{i}", str(i)) for i in range(len(ndims)))
    return fwd, vjp


def _arg_names(f, n):
    try:
        ps = [p for p in inspect.signature(f).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in ps][:n]
    except (TypeError, ValueError):
        names = []
    names += [f"x{k}" for k in range(len(names), n)]
    return [nm + "_" if keyword.iskeyword(nm) or nm.startswith("grad_") or nm == "np" else nm
            for nm in names]


def _func_name(f):
    name = getattr(f, "__name__", "f")
    return name if name.isidentifier() and not keyword.iskeyword(name) else "f"


def flat_code(f, *example_inputs, name: str | None = None) -> str:
    """Trace `f` on the example inputs and return NumPy-only source of `name(*inputs) -> (out, grads)`.

    grads holds d out / d input for each floating input (None for integer inputs such as targets).
    Values computed without gradient inside f are written in as constants.

    >>> src = cr.viz.flat_code(lambda x, y, z: (x + y) * z, -2.0, 5.0, -4.0)
    >>> print(src)   # s0 = x + y / L = s0 * z / grad_L = ... / grad_z = grad_L * s0 ...
    """
    args = _arg_names(f, len(example_inputs))
    leaves, consts = [], []
    for nm, v in zip(args, example_inputs):
        a = np.asarray(v.data if isinstance(v, Tensor) else v)
        if a.dtype.kind == "f":
            t = Tensor._make(np.array(a, copy=True), True)
            leaves.append(t)
        else:
            t = Tensor._make(a, False)
            consts.append(t)
        t.name = nm
    inputs = [t for t in (leaves + consts)]
    inputs.sort(key=lambda t: args.index(t.name))
    with autograd.enable_grad():
        out = f(*inputs)
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise ValueError(f"flat_code: {_func_name(f)} must return a Tensor computed from its "
                         f"floating inputs, got {type(out).__name__}")
    nodes = sorted(autograd.toposort([out.grad_fn]), key=lambda n: n.seq)
    arg_of = {id(t): t.name for t in inputs}
    # NOTE: op functions often pass a constant input on as its bare array (targets of cross_entropy)
    arg_of.update({id(t.data): t.name for t in consts})
    used = set(args)
    names = {}
    for k, n in enumerate(nodes):
        nm = f"s{k}"
        names[id(n)] = nm if nm not in used else nm + "_"
    root = "L" if out.data.size == 1 else "out"
    names[id(out.grad_fn)] = root if root not in used else root + "_"

    ns = {"np": np}
    for src in HELPERS.values():
        exec(src, ns)   # noqa: S102 - our own helper source, so generated lines can be tried
    for t in inputs:
        ns[t.name] = t.data

    def operand(node, i):
        e = node.edges[i]
        if e is not None and not isinstance(e, Tensor):
            return names[id(e)]
        x = node.inputs[i] if e is None else e   # the leaf itself: the node may keep only its shape
        if id(x) in arg_of:
            return arg_of[id(x)]
        return literal(x)

    def run(line):
        exec(line, ns)   # noqa: S102 - checks each generated line on the traced values

    fwd_lines, bwd_lines = [], []
    shapes = {}
    for n in nodes:
        ops = [operand(n, i) for i in range(len(n.inputs))]
        ndims = tuple(np.ndim(a) for a in n.arrays)
        fwd, _ = templates(n.prim, ndims)
        for i, x in enumerate(n.inputs):
            if x is None:   # an optional input left out (linear without bias)
                fwd = fwd.replace(f" + {{{i}}}", "")
        p = _params(n.prim, n.params)
        line = f"{names[id(n)]} = " + fwd.format(*ops, inputs=", ".join(ops), **p)
        fwd_lines.append(line)
        run(line)
        shapes[names[id(n)]] = tuple(np.shape(ns[names[id(n)]]))

    gname = {}   # id(source) -> grad variable name
    bwd_lines.append(f"grad_{names[id(out.grad_fn)]} = np.ones_like({names[id(out.grad_fn)]})"
                     f"  # d{root}/d{root} = 1")
    run(bwd_lines[-1])
    gname[id(out.grad_fn)] = f"grad_{names[id(out.grad_fn)]}"
    for n in reversed(nodes):
        g = gname.get(id(n))
        if g is None:
            continue
        ops = [operand(n, i) for i in range(len(n.inputs))]
        ndims = tuple(np.ndim(a) for a in n.arrays)
        _, vjps = templates(n.prim, ndims)
        p = _params(n.prim, n.params)
        bwd_lines.append(f"# {n.prim.name} -> {names[id(n)]}")
        for i, e in enumerate(n.edges):
            if e is None or vjps[i] is None:
                continue
            if isinstance(e, Tensor):
                if id(e) not in arg_of:
                    continue   # a leaf from outside f: a constant here, its gradient not returned
                target = f"grad_{arg_of[id(e)]}"
            else:
                target = f"grad_{names[id(e)]}"
            expr = vjps[i].format(*ops, g=g, ans=names[id(n)], inputs=", ".join(ops), **p)
            run(f"_tmp = {expr}")
            shape = tuple(np.shape(n.arrays[i]))
            if tuple(np.shape(ns["_tmp"])) != shape:
                expr = f"_sum_to({expr}, {literal(shape)})"   # undo broadcasting
            if id(e) in gname:
                line = f"{target} = {target} + {expr}  # fan-out: gradients add"
            else:
                line = f"{target} = {expr}"
                gname[id(e)] = target
            bwd_lines.append(line)
            run(line)
    grads = [gname.get(id(t)) or "None" for t in inputs]
    body = fwd_lines + [""] + bwd_lines + [
        f"return {names[id(out.grad_fn)]}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})"]
    code = "\n".join(fwd_lines + bwd_lines)
    used_helpers = []
    pending = [h for h in HELPERS if re.search(rf"\b{h}\(", code)]
    while pending:
        h = pending.pop(0)
        if h not in used_helpers:
            used_helpers.append(h)
            pending.extend(NEEDS.get(h, ()))
    fname = name or f"{_func_name(f)}_flat"
    lines = ['"""Generated by chainrule.viz.flat_code: forward one op per line, then backward."""',
             "import numpy as np"]
    for h in HELPERS:   # keep a fixed order so helpers are defined before helpers that use them
        if h in used_helpers:
            lines += ["", "", HELPERS[h].strip("\n")]
    lines += ["", "", f"def {fname}({', '.join(args)}):"]
    lines.append("    # forward")
    lines.extend("    " + ln if ln else "    # backward" for ln in body)
    return "\n".join(lines) + "\n"


def compile_flat(source: str, name: str | None = None):
    """Exec generated flat code in a fresh namespace and return its function.

    >>> fn = cr.viz.compile_flat(src); out, grads = fn(-2.0, 5.0, -4.0)
    """
    ns: dict = {}
    exec(compile(source, "<flat_code>", "exec"), ns)   # noqa: S102 - source from flat_code
    fns = [v for k, v in ns.items() if callable(v) and not k.startswith("_")
           and getattr(v, "__module__", None) is None and k.endswith("_flat")]
    if name is not None:
        return ns[name]
    if len(fns) != 1:
        raise ValueError("compile_flat: expected one generated *_flat function; pass name=")
    return fns[0]
