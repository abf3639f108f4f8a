"""The traced program (IR): equations of primitives, as a jaxpr or a torch.fx graph.

`make_program(fn, *args)` runs `fn` once with a tracer on and keeps every primitive applied to a
Tensor as an equation `out = prim(inputs, params)`. `Program.grad()` appends the backward pass as
more equations of the same primitives: it replays the forward and runs the engine's own backward
with `create_graph=True`, so each primitive's `vjp` runs on Tensors and is recorded. No derivative
exists twice, and the backward program can be differentiated again (`grad().grad(of=1)`).

Flat code (`cr.viz.flat_code`), drawings and `cr.compile` read Programs.
"""
from __future__ import annotations

import inspect
import keyword

import numpy as np

from . import autograd
from .ops import compare as _compare
from .tensor_base import Tensor

_DTYPE_SHORT = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
                "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool",
                "complex64": "c64", "complex128": "c128"}


_new = object.__new__


class Var:
    """A value of the program: a name, a shape and a dtype (hashable by identity)."""
    __slots__ = ("name", "shape", "dtype", "grad_of")

    def __init__(self, shape, dtype, name=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.grad_of = None   # the Var whose gradient this is, in a backward program

    @property
    def type(self) -> str:
        """`f32[3,4]`: dtype and shape, as a jaxpr prints them."""
        return f"{_DTYPE_SHORT.get(self.dtype.name, self.dtype.name)}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"{self.name}:{self.type}"


class Eqn:
    """`out = prim(*inputs, **params)`; an input is a Var or a constant (number, array, None)."""
    __slots__ = ("prim", "inputs", "out", "params", "backward_of")

    def __init__(self, prim, inputs, out, params):
        self.prim = prim
        self.inputs = inputs
        self.out = out
        self.params = params
        self.backward_of = None   # in a backward program: the forward Var whose node this serves

    def __repr__(self):
        return f"{self.out!r} = {self.prim.name}({', '.join(show(i) for i in self.inputs)}" \
               f"{''.join(f', {k}={v!r}' for k, v in self.params.items())})"


def show(v) -> str:
    """How an equation input reads in `str(program)`."""
    if isinstance(v, Var):
        return v.name
    if isinstance(v, np.ndarray):
        if v.size <= 6:
            return f"{v.tolist()!r}"
        return f"<{_DTYPE_SHORT.get(v.dtype.name, v.dtype.name)}[{','.join(map(str, v.shape))}] array>"
    return repr(v)


class Program:
    """Inputs, captured tensors (`consts`: read at every run, so parameters stay live), equations
    in order, and outputs. Call it to run it; `str()` shows one equation per line.

    >>> p = cr.make_program(lambda x: (x * x).sum(), cr.ones(3))
    >>> print(p)
    program(x:f32[3]) -> s1:f32[]
      s0:f32[3] = mul(x, x)
      s1:f32[] = sum(s0, axis=None, keepdims=False)
    """

    def __init__(self, inputs, consts, eqns, outputs, examples, aliases=()):
        self.inputs = inputs        # [Var]
        self.consts = consts        # [(Var, Tensor)]: tensors fn read that are not its arguments
        self.eqns = eqns            # [Eqn]
        self.outputs = outputs      # [Var or constant]
        self.examples = examples    # input arrays the program was traced with
        # (k, v, g): before equation k, the gradient of v is the value g already named for another
        # (the add gate passes its upstream gradient on unchanged)
        self.aliases = list(aliases)

    def __str__(self):
        head = f"program({', '.join(repr(v) for v in self.inputs)}) -> " + \
               ", ".join(repr(o) if isinstance(o, Var) else show(o) for o in self.outputs)
        lines = [head]
        lines += [f"  {v!r} = captured {'parameter' if t.requires_grad else 'tensor'}"
                  for v, t in self.consts]
        section = None
        for e in self.eqns:
            if e.backward_of is not None and section is None:
                section = lines.append("  # backward") or True
            lines.append(f"  {e!r}")
        return "\n".join(lines)

    __repr__ = __str__

    def __call__(self, *args):
        """Run the equations on `args` (arrays or Tensors); Tensors that require grad are recorded
        as in eager code. Returns the output, or a tuple of outputs."""
        if len(args) != len(self.inputs):
            raise TypeError(f"program: takes {len(self.inputs)} inputs "
                            f"({', '.join(v.name for v in self.inputs)}), got {len(args)}")
        env = {id(v): a for v, a in zip(self.inputs, args)}
        env.update({id(v): t for v, t in self.consts})
        outs = tuple(self._run(env))
        return outs[0] if len(outs) == 1 else outs

    def _run(self, env) -> list:
        """Apply the equations to the values in env (id(Var) -> value); the outputs' values."""
        apply = autograd.apply
        for e in self.eqns:
            ins = tuple([env[id(x)] if isinstance(x, Var) else x for x in e.inputs])
            out = apply(e.prim, ins, e.params)
            # NumPy reductions give scalars; values of a program are arrays (as in eager Tensors)
            env[id(e.out)] = out if isinstance(out, (Tensor, np.ndarray)) else np.asarray(out)
        return [env[id(o)] if isinstance(o, Var) else o for o in self.outputs]

    def grad(self, wrt=None, of: int = 0, seed_input: bool = False) -> "Program":
        """A program returning (outputs..., d output[of] / d each of `wrt`): this forward, then the
        backward recorded from each primitive's own vjp.

        wrt: names of inputs or captured tensors (default: every floating input). A non-scalar
        output (or any, with seed_input=True) gets a cotangent input `grad_<name>` (appended to the
        inputs); a scalar one is seeded with ones_like.
        >>> g = cr.make_program(lambda x: (x * x).sum(), cr.ones(3)).grad()
        >>> g(np.array([1.0, 2.0, 3.0]))[1]        # d/dx Σx² = 2x
        """
        target = self.outputs[of]
        if not isinstance(target, Var) or target.dtype.kind not in "fc":
            raise ValueError(f"program.grad: output {of} is not a floating value of the program")
        named = {v.name: v for v in self.inputs}
        named.update({v.name: v for v, _ in self.consts})
        if wrt is None:
            wrt_vars = [v for v in self.inputs if v.dtype.kind in "fc"]
        else:
            wrt = [wrt] if isinstance(wrt, str) else list(wrt)
            unknown = [w for w in wrt if w not in named]
            if unknown:
                raise ValueError(f"program.grad: {unknown} are not inputs or captured tensors of "
                                 f"the program (have {sorted(named)})")
            wrt_vars = [named[w] for w in wrt]
        wanted = {id(v) for v in wrt_vars}
        tracer = Tracer()
        fresh = {}
        for v, a in zip(self.inputs, self.examples):
            t = Tensor._make(a, id(v) in wanted)
            fresh[id(v)] = t
            tracer.input(t, v.name)
        for v, t in self.consts:
            if id(v) in wanted:   # differentiate w.r.t. a captured tensor: a fresh leaf on its data
                leaf = Tensor._make(t.data, True)
                fresh[id(v)] = leaf
                tracer.capture(leaf, v.name, origin=t)
            else:
                fresh[id(v)] = t
                tracer.capture(t, v.name)
        seed_tensor = None
        if target.shape != () or seed_input:
            seed_tensor = Tensor._make(np.ones(target.shape, target.dtype), False)
        with tracer, autograd.enable_grad():
            outs = self._run(dict(fresh))
            root = outs[of]
            n_forward = tracer.start_backward()
            if seed_tensor is not None:
                tracer.input(seed_tensor, "grad_" + target.name)
                seed = seed_tensor
            else:
                seed = _compare.OnesLike(root)
            leaves = [fresh[id(v)] for v in wrt_vars]
            if root.requires_grad:
                grads = autograd.run_backward([root], [seed], retain_graph=True,
                                              create_graph=True, capture=leaves,
                                              observer=tracer.observe)
            else:
                grads = [None] * len(leaves)
        for e in tracer.eqns[n_forward:]:
            if e.backward_of is None:
                e.backward_of = target
        grad_vars = []
        for v, g in zip(wrt_vars, grads):
            if g is None:
                grad_vars.append(None)
                continue
            gv = tracer.var_of(g)
            if gv.grad_of is None:   # else it keeps the name of the node it reached first
                gv.grad_of = tracer.var_of(fresh[id(v)])
            grad_vars.append(gv)
        out_vars = [tracer.var_of(o) if isinstance(o, Tensor) else o for o in outs]
        examples = list(self.examples) + ([seed_tensor.data] if seed_tensor is not None else [])
        return tracer.program(out_vars + grad_vars, examples)


class Tracer:
    """Collects equations while `fn` runs: the engine calls `record` for every op on a Tensor
    (`autograd.set_tracer`), and `observe` for every node of a traced backward."""

    def __init__(self):
        self.vars = {}        # id(tensor) -> Var
        self.arrays = {}      # id(array) -> Var: op functions pass some inputs on as bare arrays
        self.nodes = {}       # id(node) -> the Var of its output (backward's `ans` stand-ins)
        self.keep = []        # every tensor seen, so ids stay unique while tracing
        self.inputs = []
        self.consts = []
        self.eqns = []
        self._prev = None
        self._marks = self._backward_start = 0
        self.aliases = []

    def __enter__(self):
        self._prev = autograd.set_tracer(self)
        return self

    def __exit__(self, *exc):
        autograd.set_tracer(self._prev)
        return False

    def _bind(self, t, v):
        self.vars[id(t)] = v
        self.arrays[id(t.data)] = v
        self.keep.append(t)
        if t.grad_fn is not None:
            self.nodes[id(t.grad_fn)] = v

    def input(self, t, name=None):
        v = Var(t.data.shape, t.data.dtype, name)
        self._bind(t, v)
        self.inputs.append(v)
        return v

    def capture(self, t, name=None, origin=None):
        v = Var(t.data.shape, t.data.dtype, name or getattr(t, "name", None))
        self._bind(t, v)
        self.consts.append((v, origin if origin is not None else t))
        return v

    def var_of(self, t):
        """The Var of tensor t; a tensor made outside the trace becomes a captured const."""
        v = self.vars.get(id(t))
        if v is None:
            if t.grad_fn is not None:
                v = self.nodes.get(id(t.grad_fn))   # a rule's `ans`: the node's own output
            if v is None:
                v = self.arrays.get(id(t.data))
            if v is None:
                return self.capture(t)
            self.vars[id(t)] = v
            self.keep.append(t)
        return v

    def rebind(self, t, out):
        """An in-place op on a graph made tensor t hold out's array and node: t now reads as out."""
        self.vars[id(t)] = self.var_of(out)

    def record(self, prim, inputs, params, result):
        ins = []
        vars_, arrays = self.vars, self.arrays
        for x in inputs:
            if isinstance(x, Tensor):
                v = vars_.get(id(x))   # var_of's common case, without the call
                ins.append(v if v is not None else self.var_of(x))
            elif isinstance(x, np.ndarray) and id(x) in arrays:
                ins.append(arrays[id(x)])
            elif isinstance(x, np.ndarray) and x.base is not None:
                ins.append(self._view(prim, x))
            else:
                ins.append(x)
        self.emit(prim, ins, params, result)

    def emit(self, prim, ins, params, result):
        """Append the equation prim(ins) -> a new Var bound to result (record's last step)."""
        data = result.data
        out = _new(Var)   # Var(shape, dtype) without re-normalizing an array's own shape/dtype
        out.shape, out.dtype, out.name, out.grad_of = data.shape, data.dtype, None, None
        self.eqns.append(Eqn(prim, tuple(ins), out, params))
        self._bind(result, out)
        return out

    def _view(self, prim, x):
        """A bare-array input that is a view of a traced value, made outside primitives: a
        reshape is recorded as one; any other view would freeze the trace's values, so it is an
        error (a constant array that views no traced value is returned as it is)."""
        b = x.base
        while b is not None and id(b) not in self.arrays:
            b = b.base if isinstance(b, np.ndarray) else None
        if b is None:
            return x
        if x.size == b.size and x.flags.c_contiguous and b.flags.c_contiguous:
            from .ops.shape import Reshape
            v = Var(x.shape, x.dtype)
            self.eqns.append(Eqn(Reshape, (self.arrays[id(b)],), v, {"shape": x.shape}))
            self.arrays[id(x)] = v
            self.keep.append(x)
            return v
        raise RuntimeError(f"trace: {prim.name} got a view (shape {x.shape}) of a traced value of "
                           f"shape {b.shape} made outside chainrule's ops; a traced program would "
                           f"keep this call's values — index with the tensor itself")

    def start_backward(self) -> int:
        """Mark where the backward equations begin; returns the number of forward equations."""
        self._marks = self._backward_start = len(self.eqns)
        return self._marks

    def observe(self, node, g, grads):
        """Backward observer: name the upstream gradient of each node's output `grad_<name>`,
        and tag the equations its rule added with the node's output."""
        out = self.nodes.get(id(node))
        start = self._marks
        if isinstance(g, Tensor) and out is not None:
            gv = self.vars.get(id(g))
            if gv is not None:
                if gv.grad_of is None:
                    gv.grad_of = out
                elif gv.grad_of is not out:
                    self.aliases.append((start, out, gv))   # before this node's own equations
        for e in self.eqns[start:]:
            e.backward_of = out
        self._marks = len(self.eqns)

    def program(self, outputs, examples):
        _name(self.inputs, self.consts, self.eqns, outputs)
        return Program(self.inputs, self.consts, self.eqns, outputs, examples, self.aliases)


def _name(inputs, consts, eqns, outputs):
    """Give every Var a readable, unique name: inputs keep theirs, captured tensors c0…,
    forward values s0…, gradients grad_<name>, backward temporaries t0…"""
    used = set()

    def claim(base):
        name = base if base.isidentifier() and not keyword.iskeyword(base) else "v"
        k = 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        return name

    for k, v in enumerate(inputs):
        v.name = claim(v.name or f"x{k}")
    for k, (v, t) in enumerate(consts):
        v.name = claim(v.name or t.name or f"c{k}")
    s = t = 0
    for e in eqns:
        v = e.out
        if v.name is not None:
            continue
        if v.grad_of is not None:
            continue   # named once its forward value has its name
        if e.backward_of is None:
            v.name = claim(f"s{s}")
            s += 1
        else:
            v.name = claim(f"t{t}")
            t += 1
    for e in eqns:
        v = e.out
        if v.name is None:
            v.name = claim(f"grad_{v.grad_of.name or 'v'}")
    for o in outputs:
        if isinstance(o, Var) and o.name is None:
            o.name = claim(f"grad_{o.grad_of.name}" if o.grad_of is not None else "out")


def arg_names(fn, n) -> list:
    """The names of fn's first n positional parameters (x0, x1, … where it has none)."""
    try:
        ps = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in ps][:n]
    except (TypeError, ValueError):
        names = []
    names += [f"x{k}" for k in range(len(names), n)]
    return [nm + "_" if keyword.iskeyword(nm) or nm.startswith("grad_") or nm == "np" else nm
            for nm in names]


def make_program(fn, *example_args) -> Program:
    """Run `fn` once on the example arguments and return the traced Program.

    Arguments may be Tensors, arrays or numbers (floats become the default float dtype). Tensors
    that `fn` reads but does not take as arguments (a model's parameters) are captured: the
    program reads their current arrays whenever it runs.

    >>> p = cr.make_program(lambda x, w: cr.tanh(x @ w), cr.ones(2, 3), cr.ones(3, 4))
    >>> print(p)
    program(x:f32[2,3], w:f32[3,4]) -> s1:f32[2,4]
      s0:f32[2,4] = matmul(x, w)
      s1:f32[2,4] = tanh(s0)
    """
    from .tensor import as_array
    names = arg_names(fn, len(example_args))
    tracer = Tracer()
    args = []
    for nm, a in zip(names, example_args):
        t = a if isinstance(a, Tensor) else Tensor._make(as_array(a), False)
        tracer.input(t, t.name or nm)
        args.append(t)
    with tracer:
        out = fn(*args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    out_vars = [tracer.var_of(o) if isinstance(o, Tensor) else o for o in outs]
    return tracer.program(out_vars, [t.data for t in args])
