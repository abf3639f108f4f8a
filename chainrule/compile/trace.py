"""Tracing a whole step: forward, backward, `.grad` writes, in-place updates and optimizer steps.

`StepTracer` is the program Tracer plus what a training step does besides pure ops: every tensor it
reads that is not an argument is a captured input with a *source* (how to find it again at the
next call: the tensor itself, `p.grad`, `opt.state[p][key]`), and every change a step makes to
such a tensor (`p.grad` from backward, `p -= lr * g`, running statistics) is a *write*: a value of
the program copied back into that tensor's array after each call. While tracing, every op runs
eagerly as well, so the first call's numbers are eager numbers.
"""
from __future__ import annotations

import os
import traceback
import types

import numpy as np

from .. import autograd
from ..program import Tracer
from ..tensor_base import Tensor

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GraphBreak(RuntimeError):
    """`cr.compile`: the step reads a traced value in Python (`.item()`, `bool(t)`, `.numpy()`),
    so what it does next depends on data the compiled code would not recompute."""


def user_line() -> str:
    """`file:line: code` of the innermost frame outside chainrule (where the user's code is)."""
    for fr in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(fr.filename).startswith(_PACKAGE + os.sep):
            return f"{fr.filename}:{fr.lineno}: {(fr.line or '').strip()}"
    return "<unknown line>"


class RandomUniform:
    """A draw `default_generator().method(*args, **kw)` (cast to `astype`), anew on every run:
    dropout's uniform masks, cr.rand, randn, randint, randperm..."""
    name = "random"
    effectful = True   # never folded, merged or removed: each draw advances the generator
    keeps = None
    constant_output = True
    saves_ans = saves_inputs = residual = False

    def forward(self, method="random", args=(), kw=(), astype=None):
        from ..factories import default_generator
        out = getattr(default_generator(), method)(*args, **dict(kw))
        return out if astype is None else out.astype(astype)

    def print_form(self, params):
        """`rng.random((4, 5))`: rng is the step's argument, cr.default_generator()."""
        call = [repr(a) for a in params["args"]] + \
            [f"{k}={_literal(v)}" for k, v in params.get("kw", ())]
        dt = params.get("astype")
        return f"rng.{params['method']}({', '.join(call)})" + \
            (f".astype(np.{np.dtype(dt).name})" if dt is not None else "")


def _literal(v):
    return f"np.{v.name}" if isinstance(v, np.dtype) else repr(v)


RANDOM = RandomUniform()


class StepTracer(Tracer):
    """Records a step (see the module docstring); `fallback=True` turns a graph break into eager."""
    records_backward = True   # autograd.backward/grad, _inplace and zero_grad_ look for this

    def __init__(self, fallback: bool = False):
        super().__init__()
        self.fallback = fallback
        self.broken = None         # message of the graph break, when fallback continued eagerly
        self.sources = {}          # id(const Var) -> source tuple
        self.owner = {}            # id(tensor) / id(array) -> the input/const Var it stores
        self.writes = {}           # id(root Var) -> (root Var, source, final Var)
        self.grad_init = {}        # id(param) -> (param, its .grad Tensor or None at the start)
        self.grad_writes = {}      # id(param) -> (param, Var or None)
        self.observed = set()      # id(param): the step looked at its initial .grad
        self.guards = []           # (kind, obj, expected) checked before every compiled call
        self.inits = []            # (opt, p, key, shape, dtype): state the step creates
        self.viewing = set()       # id(Var) of outputs that may share memory with an input
        self.hypers = {}           # (id(opt), group index, key) -> 0-d Tensor read every call
        self.reachable = {}        # id(array) -> Tensor the step can reach (find_objects)
        self.epilogue = []         # optimizers whose eager step() runs after the compiled code
        self.stepped = None        # the line of such a step(): nothing may follow it
        self._grad_arrays = set()  # id(array) given to a .grad without a copy

    def record(self, prim, inputs, params, result):
        """Tracer.record, plus: a reachable tensor's array passed bare (class targets) is read
        live, and an output that may share memory with an input is noted (`viewing`). One loop
        over the inputs: this runs once per traced op (8000 times for W5)."""
        if self.stepped is not None:
            self.after_step()   # (with fallback, this op and the rest of the call are eager)
            return
        vars_, arrays = self.vars, self.arrays
        data = result.data
        own = data.base is None
        view = False
        ins = []
        for x in inputs:
            if isinstance(x, Tensor):
                v = vars_.get(id(x))
                ins.append(v if v is not None else self.var_of(x))
                a = x.data
            elif isinstance(x, np.ndarray):
                v = arrays.get(id(x))
                if v is None and id(x) in self.reachable:
                    self.var_of(self.reachable[id(x)])   # captured: its array is now known
                    v = arrays.get(id(x))
                if v is None:
                    v = self._view(prim, x) if x.base is not None else x
                ins.append(v)
                a = x
            else:
                ins.append(x)
                continue
            # two arrays owning their memory overlap only when they are one array: most ops'
            # fresh results skip may_share_memory (~1 µs a call)
            if not view and (a is data or not (own and a.base is None)) and \
                    np.may_share_memory(a, data):
                view = True
        out = self.emit(prim, ins, params, result)
        if view:
            self.viewing.add(id(out))

    # ---------------------------------------------------------------- inputs with sources

    def source_input(self, t, name, source):
        v = self.capture(t, name)
        self.sources[id(v)] = source
        self.owner[id(t)] = self.owner[id(t.data)] = v
        return v

    def arg(self, t, name, k):
        v = self.input(t, name)
        self.owner[id(t)] = self.owner[id(t.data)] = v
        self.sources[id(v)] = ("arg", k)
        return v

    def var_of(self, t):
        v = self.vars.get(id(t))
        if v is not None:
            return v
        if t.grad_fn is None and id(t.data) not in self.arrays:
            return self.source_input(t, None, ("tensor", t))   # captured: read live
        return super().var_of(t)

    def start(self, params):
        """Bind each parameter's current `.grad` as an input read from `p.grad` at every call."""
        for p in params:
            g = p._grad
            self.grad_init[id(p)] = (p, g)
            if g is not None:
                self.source_input(g, f"grad_{p.name}" if p.name else None, ("grad", p))

    # ---------------------------------------------------------------- graph breaks

    def _view(self, prim, x):
        try:
            return super()._view(prim, x)
        except RuntimeError as e:   # a view made outside ops: the compiled code would freeze it
            msg = f"cr.compile: {e} (at {user_line()})"
            if not self.fallback:
                raise GraphBreak(msg) from None
            self.broken = msg
            autograd.set_tracer(None)
            return x

    def knows(self, t) -> bool:
        return id(t) in self.vars or id(t.data) in self.arrays

    def read(self, t, what):
        if self.broken is not None or not self.knows(t):
            return
        msg = (f"cr.compile: {what} reads the value of a traced tensor (shape {t.shape}) in "
               f"Python at {user_line()}; compiled code cannot branch on data — return the tensor "
               f"instead, or use cr.compile(fn, fallback='eager')")
        if not self.fallback:
            raise GraphBreak(msg)
        self.broken = msg
        autograd.set_tracer(None)   # the rest of this call runs eagerly

    # ---------------------------------------------------------------- effects

    def cast(self, t, dtype):
        from ..tensor import _Cast
        return autograd.apply(_Cast, (t,), {"dtype": np.dtype(dtype)})

    def assign(self, t, out):
        """In-place change of t to out's value: t's array keeps its identity and the new value;
        a captured tensor or argument gets a write-back."""
        v = self.var_of(out)
        t.data[...] = out.data
        self.vars[id(t)] = v
        self.arrays[id(t.data)] = v
        self.keep.append(t)
        root = self.owner.get(id(t)) or self.owner.get(id(t.data))
        if root is not None:
            self.writes[id(root)] = (root, self.sources[id(root)], v)

    def rebind(self, t, out):
        super().rebind(t, out)
        root = self.owner.get(id(t))
        if root is not None:
            self.writes[id(root)] = (root, self.sources[id(root)], self.vars[id(t)])

    def detached(self, g):
        """g without its graph, still named as g's Var."""
        d = Tensor._make(g.data, False)
        self.vars[id(d)] = self.var_of(g)
        self.keep.append(d)
        return d

    def _grad_now(self, p):
        """Note that the step looked at p's `.grad` before writing it."""
        if id(p) not in self.grad_writes and id(p) in self.grad_init:
            self.observed.add(id(p))

    def after_step(self):
        """An op, a backward or a .grad change after an optimizer step that runs eagerly after
        the compiled code: the program would see the parameters before that update. A graph
        break (with fallback: the rest of this call runs eagerly)."""
        msg = (f"cr.compile: the step goes on after an optimizer step that runs eagerly at the "
               f"end of the compiled code ({self.stepped}), at {user_line()}; end the step with "
               f"opt.step(), or use a traced optimizer (SGD, Adam, AdamW, RMSprop, Adagrad)")
        if not self.fallback:
            raise GraphBreak(msg)
        self.broken, self.stepped = msg, None
        autograd.set_tracer(None)

    def zero_grad(self, p, set_to_none):
        if self.stepped is not None:
            self.after_step()
            return p.zero_grad_(set_to_none)   # eager now
        if not set_to_none:   # None either way otherwise: the old .grad does not matter
            self._grad_now(p)
        g = p._grad
        if g is None:
            if set_to_none:
                self.grad_writes[id(p)] = (p, None)   # None whatever it was before the step
            return
        if set_to_none:
            p._grad = None
            self.grad_writes[id(p)] = (p, None)
        else:
            with autograd.no_grad():
                z = g * 0
            self._set_grad(p, g, z)

    def _set_grad(self, p, prev, value):
        """p.grad becomes value; as in eager code, an existing `.grad` keeps its array."""
        v = self.var_of(value)
        if prev is not None and prev is not value and prev.grad_fn is None \
                and prev.data.shape == value.data.shape and prev.data.flags.writeable:
            prev.data[...] = value.data
            keep = prev
        elif self._owns(value, v):   # a fresh result of this trace: .grad takes its array (as
            keep = Tensor._make(value.data, False)   # eager's owned gradients; W2: no 64 MB copy)
            self._grad_arrays.add(id(value.data))
        else:
            keep = Tensor._make(np.array(value.data), False)
        p._grad = keep
        self.vars[id(keep)] = v
        self.arrays[id(keep.data)] = v
        self.keep.append(keep)
        self.grad_writes[id(p)] = (p, v)

    def _owns(self, value, v) -> bool:
        """value's array is an equation's own result, no input's, view's or other `.grad`'s."""
        a = value.data
        return a.base is None and a.flags.writeable and id(a) not in self.owner \
            and id(a) not in self._grad_arrays and id(v) not in self.viewing \
            and not any(v is c for c, _ in self.consts) and not any(v is x for x in self.inputs)

    def backward(self, root, seeds, retain_graph):
        """`loss.backward()` while tracing: the engine's own backward with create_graph=True, so
        each rule's ops are recorded; then every `.grad` it changed is detached (as eager)."""
        if self.stepped is not None:
            self.after_step()
            seeds = [s.data if isinstance(s, Tensor) else s for s in seeds]
            return autograd.run_backward([root], seeds, bool(retain_graph))   # eager now
        before = {id(t): (t, t._grad) for t in self.keep   # keep holds reshape views too
                  if isinstance(t, Tensor) and t.grad_fn is None and t.requires_grad}
        for p, g in before.values():
            if id(p) not in self.grad_init:   # a leaf met while tracing: its .grad is state too
                self.start([p])
        for p, g in self.grad_init.values():
            if id(p) not in before:
                before[id(p)] = (p, p._grad)
        for p, _ in before.values():
            self._grad_now(p)
        self._marks = len(self.eqns)
        if seeds[0] is not None and root.data.size == 1 and isinstance(seeds[0], np.ndarray) \
                and (seeds[0] == 1).all():
            from ..ops.compare import OnesLike
            seeds = [OnesLike(root)]   # an equation (folded to a constant), not a captured array
        autograd.run_backward([root], seeds, bool(retain_graph), True, observer=self.observe)
        for p, prev in before.values():
            if p._grad is not prev:
                self._set_grad(p, prev, p._grad)

    def lift(self, inputs):
        """A rule's bare-array inputs that are program values, as Tensors (so ops on them, such
        as the one-hot of the targets, are recorded instead of frozen as constants)."""
        out = []
        for x in inputs:
            if type(x) is np.ndarray and id(x) in self.arrays:
                t = Tensor._make(x, False)
                self.vars[id(t)] = self.arrays[id(x)]
                self.keep.append(t)
                x = t
            out.append(x)
        return tuple(out)

    def draw(self, method, args, kw, astype):
        """A traced `default_generator().method(*args, **kw)`: an equation the compiled code
        runs on every call (dropout, cr.rand, randn, randint, randperm...)."""
        params = {"method": method, "args": tuple(args), "kw": tuple(sorted(kw.items())),
                  "astype": None if astype is None else np.dtype(astype)}
        out = Tensor._make(RANDOM.forward(**params), False)
        self.record(RANDOM, (), params, out)
        return out

    # ---------------------------------------------------------------- optimizers

    def optimizer_step(self, opt):
        from .optim import traced_step
        traced_step(self, opt)

    def new_state(self, opt, p, key, value: np.ndarray):
        """Create optimizer state opt.state[p][key] (zeros) while tracing; the program creates it
        too when it runs with that state missing."""
        t = Tensor._make(value, False)
        opt.state[p][key] = t
        self.inits.append((opt, p, key, value.shape, value.dtype))
        self.source_input(t, None, ("state", opt, p, key))
        return t

    def hyper_input(self, opt, group, key):
        """A hyper-parameter (the learning rate) as a float64 0-d program input, read from the
        param group at every call: a new value needs no new trace."""
        gi = next(i for i, g in enumerate(opt.param_groups) if g is group)
        k = (id(opt), gi, key)
        t = self.hypers.get(k)
        if t is None:
            t = Tensor._make(np.array(float(group[key])), False)
            self.source_input(t, key if gi == 0 else f"{key}{gi}", ("hyper", opt, gi, key))
            self.hypers[k] = t
        return t

    def state_tensor(self, opt, p, key):
        t = opt.state[p][key]
        if id(t) not in self.vars:
            self.source_input(t, None, ("state", opt, p, key))
        return t


def resolve(source, args):
    """The Tensor a source names now (None when it is gone)."""
    kind = source[0]
    if kind == "tensor":
        return source[1]
    if kind == "grad":
        return source[1]._grad
    if kind == "state":
        st = source[1].state.get(source[2])
        return None if st is None else st.get(source[3])
    if kind == "hyper":
        return Tensor._make(np.array(float(source[1].param_groups[source[2]][source[3]])), False)
    return args[source[1]]


def describe(source) -> str:
    kind = source[0]
    if kind == "tensor":
        t = source[1]
        return f"captured tensor{' ' + t.name if t.name else ''} {list(t.shape)}"
    if kind == "grad":
        return "p.grad of a parameter"
    if kind == "state":
        return f"optimizer state {source[3]!r}"
    if kind == "hyper":
        return f"param_groups[{source[2]}][{source[3]!r}], read at every call"
    return f"argument {source[1]}"


# ---------------------------------------------------------------- what a step touches

def find_objects(fn, args, depth: int = 4, tensors=None):
    """Modules and optimizers `fn` can reach: its arguments, closure cells, the globals its code
    names, bound `self`, attributes of plain objects (depth-limited, no recursion). Tensors met
    on the way go into `tensors` (id of array -> Tensor) when given."""
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer
    modules, opts, seen = {}, {}, set()
    stack = [(fn, 0)] + [(a, 0) for a in args]
    while stack:
        obj, d = stack.pop()
        if id(obj) in seen or d > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, Module):
            for m in obj.modules():
                modules[id(m)] = m
                if tensors is not None:   # plain tensor attributes and buffers of modules too
                    for v in list(vars(m).values()) + list(getattr(m, "_buffers", {}).values()):
                        if isinstance(v, Tensor):
                            tensors[id(v.data)] = v
            continue
        if isinstance(obj, Optimizer):
            opts[id(obj)] = obj
            continue
        if isinstance(obj, Tensor) and tensors is not None:
            tensors[id(obj.data)] = obj
        if isinstance(obj, (Tensor, np.ndarray, str, bytes, int, float, type, types.ModuleType)) \
                or obj is None:
            continue
        nxt = []
        if isinstance(obj, types.MethodType):
            nxt += [obj.__func__, obj.__self__]
        elif isinstance(obj, types.FunctionType):
            code = obj.__code__
            nxt += [c.cell_contents for c in obj.__closure__ or () if _has(c)]
            nxt += list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())
            names, codes = set(), [code]
            while codes:
                c = codes.pop()
                names.update(c.co_names)
                codes += [k for k in c.co_consts if isinstance(k, types.CodeType)]
            g = obj.__globals__
            nxt += [g[n] for n in names if n in g]
        elif isinstance(obj, (list, tuple, set)):
            nxt += list(obj)[:100]
        elif isinstance(obj, dict):
            nxt += list(obj.values())[:100]
        elif hasattr(obj, "func") and hasattr(obj, "args"):   # functools.partial
            nxt += [obj.func, *obj.args]
        elif hasattr(obj, "__dict__") and not callable(obj) or hasattr(obj, "__call__") and \
                hasattr(obj, "__dict__") and not isinstance(obj, types.BuiltinFunctionType):
            nxt += list(vars(obj).values())[:100]
        stack += [(o, d + 1) for o in nxt]
    return list(modules.values()), list(opts.values())


def _has(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False
