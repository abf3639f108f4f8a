"""The generated `_run`: what a compiled call does around the step function, as plain code.

`_run(a0, ...)` checks the guards (one attribute or dict read each: training flags, which
parameters the modules hold, which `.grad` slots are empty, which optimizer state exists, the
hyper-parameters baked into the code), reads every captured tensor's current array, passes the
`.grad` arrays the step writes into, calls the step, bumps the versions of the tensors it updated
in place, and wraps the outputs. A captured array that is not the one seen last time is checked
once (shape, dtype, contiguity) by `Checks.arrays`; a `.grad` slot that is empty or holds another
array is (re)bound once by `Checks.grad_out`. A failed guard returns None (another version, or a
new trace); a captured tensor that is gone or changed raises `Retrace`.
"""
from __future__ import annotations

import re
import sys

import numpy as np

from .. import autograd
from ..tensor_base import Tensor
from .trace import describe

_SIMPLE = (bool, int, float, str, type(None))


class Retrace(Exception):
    """A captured tensor is gone or changed shape/dtype: trace again."""


def bump_all(tensors, _ag=autograd, _lock=autograd._epoch_lock):
    """One version bump for every tensor a call changed in place (as eager's in-place ops)."""
    with _lock:
        _ag._epoch = e = _ag._epoch + 1
    for t in tensors:
        vc = t._vc
        if vc is None:
            _ag._link(t, [e])   # as bump_version: shared with the node that saved t, if any
        else:
            vc[0] = e


class Checks:
    """The slow paths of `_run`, taken only when an array behind a captured tensor changed."""

    def __init__(self, consts, contiguous, grad_params, written=()):
        self.consts = consts                  # [(Var, source)]
        self.contiguous = contiguous          # const indices a kernel writes through a flat view
        self.written = set(written)           # const indices the step writes into
        self.seen = [None] * len(consts)      # the arrays last checked
        self.grad_params = grad_params        # params whose .grad the step writes into
        self.gout = [None] * len(grad_params)  # their .grad arrays

    def arrays(self, *arrays):
        for i, ((v, src), a) in enumerate(zip(self.consts, arrays)):
            if a is self.seen[i] or src[0] == "hyper":
                continue
            if a is None or a.shape != v.shape or a.dtype != v.dtype:
                raise Retrace(describe(src))
            if i in self.contiguous and not a.flags.c_contiguous:
                raise Retrace("a non-contiguous array updated in place")
            if i in self.written and not a.flags.writeable:
                raise Retrace("a read-only array")   # the eager trace raises eager's error
            self.seen[i] = a
        for i, g in enumerate(self.gout):   # a .grad written into must not alias an input
            if g is not None and any(a is not None and np.may_share_memory(g, a) for a in arrays):
                self.gout[i] = None

    def grad_out(self, k):
        """The array p.grad's values are written into: its own when it can take them."""
        p = self.grad_params[k]
        g = p._grad
        self.gout[k] = None   # drop our own reference before counting the others
        # held elsewhere (refcounts: the slot, local g, the argument; the array: g.data, the argument)
        shared = g is not None and (sys.getrefcount(g) > 3 or sys.getrefcount(g.data) > 2)
        if shared or g is None or g.grad_fn is not None or g.data.shape != p.data.shape \
                or g.data.dtype != p.data.dtype or not g.data.flags.writeable \
                or not g.data.flags.c_contiguous \
                or any(a is not None and np.may_share_memory(g.data, a) for a in self.seen) \
                or any(a is not None and i != k and np.may_share_memory(g.data, a)
                       for i, a in enumerate(self.gout)):
            g = p._grad = Tensor._make(np.empty(p.data.shape, p.data.dtype), False)
        self.gout[k] = g.data
        return g.data


class Names:
    """Module-level names for the objects `_run` refers to (tensors, modules, optimizers)."""

    def __init__(self, namespace):
        self.ns = namespace
        self.ids = {}

    def __call__(self, obj, prefix):
        if obj is None:
            return "None"
        name = self.ids.get(id(obj))
        if name is None:
            pattern = re.compile(f"_{prefix}[0-9]+_*")
            name = f"_{prefix}{sum(1 for k in self.ns if pattern.fullmatch(k))}"
            while name in self.ns:
                name += "_"
            self.ns[name] = obj
            self.ids[id(obj)] = name
        return name


def _plain(m, attr) -> bool:
    """m.attr is an entry of m.__dict__ (no class attribute or property of that name), so the
    generated code may read the dict: a Module's __getattr__ makes every attribute read slow."""
    return attr in m.__dict__ and not hasattr(type(m), attr)


def _guard_terms(guards, name, lr_groups):
    """Python conditions, all true exactly when `build.check` would match every guard (a
    KeyError while evaluating them counts as false)."""
    terms = []
    for kind, obj, expected in guards:
        if kind == "training":
            for m, on in zip(obj, expected):
                read = f"{name(m.__dict__, 'd')}['training']" if _plain(m, "training") \
                    else f"{name(m, 'm')}.training"
                terms.append(read if on else f"not {read}")
        elif kind == "params":
            for m in obj:
                if _plain(m, "_parameters"):
                    pd = name(m._parameters, "params")
                    terms.append(f"{name(m.__dict__, 'd')}['_parameters'] is {pd}")
                    terms.append(f"len({pd}) == {len(m._parameters)}")
                    terms += [f"{pd}[{k!r}] is {name(p, 'p')}" for k, p in m._parameters.items()]
                    continue
                mn = name(m, "m")
                terms.append(f"len({mn}._parameters) == {len(m._parameters)}")
                terms += [f"{mn}._parameters.get({k!r}) is {name(p, 'p')}"
                          for k, p in m._parameters.items()]
        elif kind == "grads":
            terms += [f"{name(p, 'p')}._grad is {'None' if none else 'not None'}"
                      for p, none in zip(obj, expected)]
        elif kind == "state":
            on = name(obj, "o")
            params = [p for g in obj.param_groups for p in g["params"]]
            if not any(expected):   # no state yet: one pass over the (empty) state says so
                terms.append(f"(not any({on}.state.values()) or "
                             + " and ".join(f"not {on}.state.get({name(p, 'p')})"
                                            for p in params) + ")")
                continue
            for p, keys in zip(params, expected):
                if keys:
                    terms.append(f"{on}.state.get({name(p, 'p')}, _EMPTY).keys() == "
                                 f"{name(frozenset(keys), 'k')}")
                else:
                    terms.append(f"not {on}.state.get({name(p, 'p')})")
        elif kind == "hyper":
            on = name(obj, "o")
            terms.append(f"len({on}.param_groups) == {len(obj.param_groups)}")
            for gi, (group, items) in enumerate(zip(obj.param_groups, expected)):
                gn = name(group, "g")
                terms += [f"{on}.param_groups[{gi}] is {gn}", f"len({gn}) == {len(group)}"]
                for k, v in items:
                    if k == "lr" and (obj, gi) in lr_groups:
                        continue   # read at every call (a new rate needs no new trace)
                    if isinstance(v, _SIMPLE) or isinstance(v, tuple) and \
                            all(isinstance(x, _SIMPLE) for x in v):
                        terms.append(f"{gn}[{k!r}] == {v!r}" if isinstance(v, (bool, int, str))
                                     or v is None else f"{gn}[{k!r}] == {name(v, 'h')}")
                    else:
                        terms.append(f"_check('hyper', {on}) == {name(expected, 'h')}")
                        break
        else:
            raise ValueError(kind)
    return terms


def emit(entry, step_name, namespace):
    """Source of `_run` for an Entry; fills namespace with the objects it names."""
    from .build import check
    name = Names(namespace)
    namespace.update(_EMPTY={}, _make=Tensor._make, _bump=bump_all, _check=check,
                     _Retrace=Retrace)
    lr_groups = {(s[1], s[2]) for _, s in entry.consts if s[0] == "hyper"}
    terms = _guard_terms(entry.guards, name, lr_groups)
    args = [f"a{k}" for k in range(len(entry.args))]
    lines = [f"def _run({', '.join(args)}):",
             '    """Guards, reads, the step, write-backs: one compiled call."""']
    if terms:
        lines.append("    try:")
        lines.append("        ok = (" + "\n              and ".join(terms) + ")")
        lines.append("    except KeyError:   # a module lost an attribute or a parameter")
        lines.append("        ok = False")
        lines.append("    if not ok:")
        lines.append("        return None   # another version (or a new trace) serves this call")
    if entry.inits:
        namespace["_init"] = entry.init_state
        lines.append("    _init()   # optimizer state this version creates when it is missing")
    reads, risky = [], False
    for v, src in entry.consts:
        kind = src[0]
        if kind == "tensor":
            reads.append(f"{v.name} = {name(src[1], 't')}.data")
        elif kind == "grad":
            reads.append(f"_{v.name} = {name(src[1], 'p')}._grad")
            reads.append(f"{v.name} = None if _{v.name} is None else _{v.name}.data")
        elif kind == "state":
            risky = True
            reads.append(f"_{v.name} = {name(src[1], 'o')}.state[{name(src[2], 'p')}]"
                         f"[{src[3]!r}]")
            reads.append(f"{v.name} = _{v.name}.data")
        elif kind == "hyper":
            reads.append(f"{v.name} = _f64({name(src[1], 'o')}.param_groups[{src[2]}]"
                         f"[{src[3]!r}])")
            namespace["_f64"] = lambda x: np.array(float(x))
        else:
            raise ValueError(kind)
    arrays = [v.name for v, s in entry.consts if s[0] != "hyper"]
    if risky:
        lines.append("    try:")
        lines += ["        " + r for r in reads]
        lines.append("    except (KeyError, AttributeError):")
        lines.append("        raise _Retrace('optimizer state is gone') from None")
    else:
        lines += ["    " + r for r in reads]
    if arrays:
        namespace["_seen"] = entry.checks.seen
        namespace["_checks"] = entry.checks
        idx = [i for i, (v, s) in enumerate(entry.consts) if s[0] != "hyper"]
        cond = " or ".join(f"{entry.consts[i][0].name} is not _seen[{i}]" for i in idx)
        lines.append(f"    if {cond}:")
        every = ", ".join(entry.consts[i][0].name if i in idx else "None"
                          for i in range(len(entry.consts)))
        lines.append(f"        _checks.arrays({every})   # a new array: checked once")
    if entry.grad_out:
        namespace["_gout"] = entry.checks.gout
        namespace["_checks"] = entry.checks
        for k, (p, v) in enumerate(entry.grad_out):
            pn = name(p, "p")
            lines.append(f"    {v.name} = {pn}._grad")
            # reused only while nobody else holds the .grad tensor or its array (refcounts: the
            # slot, this local, the call's argument): a user's `g = p.grad` keeps its values, as
            # in eager code where zero_grad() drops the tensor and backward makes a new one
            lines.append(f"    {v.name} = _gout[{k}] if {v.name} is not None and "
                         f"{v.name}.data is _gout[{k}] and _rc({v.name}) == 3 and "
                         f"_rc(_gout[{k}]) == 3 else _checks.grad_out({k})")
            namespace["_rc"] = sys.getrefcount
    for k in entry.arg_contiguous:
        lines.append(f"    if not a{k}.data.flags.c_contiguous:")
        lines.append("        raise _Retrace('a non-contiguous array updated in place')")
    call_args = [f"{a}.data" for a in args] + [v.name for v, _ in entry.consts] + \
        [v.name for _, v in entry.grad_out] + (["_rng()"] if entry.uses_rng else [])
    if entry.uses_rng:
        from ..factories import default_generator
        namespace["_rng"] = default_generator
    lines.append(f"    out = {step_name}({', '.join(call_args)})")
    if entry.written:
        bumps = [name(src[1], "t") if src[0] == "tensor" else f"a{src[1]}" if src[0] == "arg"
                 else f"_{root.name}" for root, src in entry.written]
        static = all(src[0] == "tensor" for _, src in entry.written)
        ts = name(tuple(src[1] for _, src in entry.written), "w") if static \
            else f"({', '.join(bumps)},)"
        lines.append(f"    _bump({ts})   # {', '.join(bumps)}: updated in place")
    for p in entry.grad_none:
        lines.append(f"    {name(p, 'p')}._grad = None   # zero_grad(set_to_none=True)")
    outs = ", ".join(f"_make(out[{k}], False)" for k in range(entry.n_out))
    lines.append(f"    return ({outs}{',' if entry.n_out == 1 else ''})")
    return "\n".join(lines) + "\n"
