"""From a traced step to a runnable entry: optimize the equations, generate source, run it.

An `Entry` is one compiled version of a step (one signature and one set of guards). Its source
has two functions: the step itself, which leaves every write-back in its target's array (a
parameter, optimizer state or buffer updated in place, a `.grad` array written with `out=`, or a
copy at the end), and `_run` (runner.py), which checks the guards, reads the captured arrays,
calls the step and bumps the versions of what it changed. So models, checkpoints and eager code
see what eager execution would have left, and a call costs a few µs around the step.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

import numpy as np

from ..program import Program, Var
from ..tensor_base import Tensor
from . import codegen, passes, plan
from . import runner
from .runner import Retrace  # noqa: F401 - raised by the generated code
from .trace import RANDOM


class Entry:
    def __init__(self, tracer, out_tensors, out_tree, name, doc, options):
        self.out_tree = out_tree
        self.guards = tracer.guards
        self.inits = tracer.inits
        self.epilogue = list(getattr(tracer, "epilogue", ()))   # eager opt.step() after the code
        var_of = tracer.var_of
        out_vars = [var_of(t) for t in out_tensors]
        writes = [(root, v) for root, src, v in tracer.writes.values() if v is not root]
        gwrites = list(tracer.grad_writes.values())
        roots = out_vars + [v for _, v in writes] + [v for _, v in gwrites if v is not None]
        full = tracer.program(roots, [])
        self.program_traced = full
        eqns, lookup = passes.optimize(list(full.eqns), roots)
        roots = [lookup(v) for v in roots]
        self.n_out = n_out = len(out_vars)
        used = {id(x) for e in eqns for x in e.inputs if isinstance(x, Var)}
        used |= {id(v) for v in roots if isinstance(v, Var)}
        used |= {id(root) for root, _ in writes}
        self.args = list(full.inputs)
        self.consts = [(v, tracer.sources[id(v)]) for v, _ in full.consts if id(v) in used]
        self.uses_rng = any(e.prim is RANDOM for e in eqns)
        self.program = Program(self.args, [(v, t) for v, t in full.consts if id(v) in used],
                               eqns, roots, [])
        # every write-back is (target, value): the step leaves value in target's array, by
        # computing it there (in place, or `out=` into a .grad array) or by a copy at its end
        grad_in = {id(s[1]): v for v, s in self.consts if s[0] == "grad"}
        targets = [(root, val) for (root, _), val in zip(writes, roots[n_out:])]
        self.written = [(root, tracer.sources[id(root)]) for root, _ in writes]
        self.grad_out, self.grad_none = [], []
        taken = {v.name for v in self.args} | {v.name for v, _ in self.consts}
        gvals = iter(roots[n_out + len(writes):])
        for p, v in gwrites:
            if v is None:
                self.grad_none.append(p)
                continue
            val = next(gvals)
            target = grad_in.get(id(p))
            if target is None:
                nm = _fresh(f"grad_out{len(self.grad_out)}", taken)
                target = Var(p.data.shape, p.data.dtype, nm)
                self.grad_out.append((p, target))
            targets.append((target, val))
        inputs = {id(v) for v in self.args} | {id(v) for v, _ in self.consts}
        in_place, outs = {}, {}
        for t, val in targets:
            if isinstance(val, Var) and id(val) not in in_place and id(val) not in outs:
                (in_place if id(t) in inputs else outs)[id(val)] = t
        params = [v.name for v in self.args] + [v.name for v, _ in self.consts] + \
            [v.name for _, v in self.grad_out]
        if self.uses_rng:
            params.append("rng")
        src = codegen.Source(name)
        options = dict(options, n_out=n_out, writes=in_place, outs=outs)
        returns = plan.emit(src, eqns, roots, self.args + [v for v, _ in self.consts], options)
        src.body += _copies(src, targets, inputs, options.get("viewing", set()))
        self.fused = src.fused
        self.arg_contiguous = [k for k, v in enumerate(self.args) if id(v) in src.contiguous]
        contiguous = {i for i, (v, _) in enumerate(self.consts) if id(v) in src.contiguous}
        target_ids = {id(t) for t, _ in targets}
        self.checks = runner.Checks(self.consts, contiguous, [p for p, _ in self.grad_out],
                                    [i for i, (v, _) in enumerate(self.consts)
                                     if id(v) in target_ids])
        step_src = src.text(params, returns[:n_out], doc)
        run_src = runner.emit(self, name, src.namespace)
        self.source = step_src + "\n\n" + run_src
        self.fn, self.run = load(self.source, name, src.namespace, bool(src.kernels))

    def matches(self) -> bool:
        return all(check(kind, obj) == expected for kind, obj, expected in self.guards)

    def init_state(self):
        for opt, p, key, shape, dtype in self.inits:
            st = opt.state[p]
            if key not in st:
                st[key] = Tensor._make(np.zeros(shape, dtype), False)


def _fresh(name, taken):
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _copies(src, targets, inputs, viewing):
    """Lines ending the step: each write-back value not already in its target is copied there
    (values that may alias an input first, so no copy overwrites what a later one reads)."""
    todo = [(t, val) for t, val in targets
            if not (isinstance(val, Var) and src.inplace.get(id(val)) is t
                    or id(val) in getattr(src, "directed", {})
                    and src.directed[id(val)] is t)]
    if not todo:
        return []
    lines, names = [], {}
    overwrites_input = any(id(t) in inputs for t, _ in todo)
    for t, val in todo:
        if overwrites_input and isinstance(val, Var) and (id(val) in inputs or id(val) in viewing) \
                and id(val) not in names:
            names[id(val)] = f"{val.name}_copy"
            lines.append(f"{val.name}_copy = np.array({val.name})  # read before the writes below")
    for t, val in todo:
        v = names.get(id(val)) if isinstance(val, Var) else None
        lines.append(f"{t.name}[...] = {v or src.operand(val)}  # write-back")
    return lines


def cache_dir() -> str:
    """Where generated modules with numba kernels are kept (numba caches their machine code
    next to them): $CHAINRULE_CACHE, else ~/.cache/chainrule/compile."""
    d = os.environ.get("CHAINRULE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "chainrule", "compile")
    os.makedirs(d, exist_ok=True)
    return d


def load(source, name, namespace, kernels):
    """(step function, _run) of generated source, exec'd in a namespace of their own. numba
    caches kernels only from files: with kernels, the source is also imported from a file named
    after its hash, and the exec'd `@njit` definitions take that module's (cached) kernels, so
    two steps with the same source share kernels but never buffers, constants or tensors."""
    ns = dict(namespace)
    text = source
    if kernels:
        mod = _kernel_module(source)
        ns["_njit_from_file"] = lambda **kw: (lambda f: getattr(mod, f.__name__))
        text = source.replace("from numba import njit\n", "njit = _njit_from_file\n", 1)
    exec(compile(text, f"<cr.compile {name}>", "exec"), ns)   # noqa: S102 - generated
    return ns[name], ns["_run"]


def _kernel_module(source):
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    path = os.path.join(cache_dir(), f"step_{digest}.py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)   # atomic: concurrent processes see a whole file
    spec = importlib.util.spec_from_file_location(f"_cr_step_{digest}", path)
    mod = sys.modules.get(spec.name)
    if mod is None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod   # numba's cache finds a kernel's globals by module name
        spec.loader.exec_module(mod)
    return mod


def check(kind, obj):
    """The current value of one guard."""
    if kind == "training":
        return tuple(m.training for m in obj)
    if kind == "grads":
        return tuple(p._grad is None for p in obj)
    if kind == "state":
        from .optim import state_keys
        return state_keys(obj)
    if kind == "hyper":
        from .optim import hyper
        return hyper(obj)
    if kind == "params":
        return tuple(id(p) for m in obj for p in m._parameters.values())
    raise ValueError(kind)
