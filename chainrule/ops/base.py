"""The primitive pattern: one class per op holding forward, VJP, JVP and test samples; one registry."""
from __future__ import annotations

import numpy as np

from .. import autograd

REGISTRY: dict[str, "Primitive"] = {}


class At:
    """A sample input that is differentiable and has exactly these values (zeros, boundaries, ties),
    where a plain array in a Sample is a fixed constant (a mask, an index)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)

    @property
    def shape(self):
        return self.values.shape

    def __repr__(self):
        return f"At({self.values.tolist()})"


class Sample:
    """Inputs on which the test suite checks a primitive: shapes (random floats) or fixed arrays.

    domain: "real", "positive" (log, sqrt, pow) or "unit" (values in (-0.9, 0.9)).
    smooth: False where second-order checks make no sense (kinks such as relu, abs, max).
    """

    def __init__(self, *inputs, domain="real", smooth=True, **params):
        self.inputs = inputs
        self.params = params
        self.domain = domain
        self.smooth = smooth

    def __repr__(self):
        shown = [i if isinstance(i, (tuple, At)) else f"array{np.shape(i)}" for i in self.inputs]
        return f"Sample({shown}, {self.params})"


class Primitive:
    """An op that knows its own derivative. Subclass, fill in the methods, decorate with @register.

    forward(*arrays, **params) -> array          the op on NumPy arrays
    vjp(g, ans, needs, *inputs, **params) -> list   one gradient per input (None where not needed);
        g is the upstream gradient, ans the forward result (given when saves_ans), needs[i] says
        whether input i wants a gradient. Written with operations that work on arrays and on
        Tensors, so one rule serves the fast backward and the recorded one (create_graph).
        Gradients may keep broadcast shapes: the engine sums them back (autograd.sum_to).
    jvp(tangents, ans, *inputs, **params) -> array  the output tangent J·t (tangents[i] None = 0)
    """
    name = "?"
    saves_ans = False      # rules read the forward result
    reads = None           # per input: what its gradient rule reads (input indices, "ans"); None =
                           # saves_inputs/saves_ans for every call
    keeps = None           # made by @register from `reads`: needs -> (inputs kept, ans kept)
    plan1 = plan2 = plan3 = None   # made by @register: what autograd.apply keeps for 1-3 inputs
    residual = False       # forward returns (out, residual); rules get the residual as `ans`
                           # (array-mode only: with create_graph they recompute from inputs)
    saves_inputs = True    # rules read input values, so in-place changes to them are errors
    elementwise = False    # unary with diagonal Jacobian: the tangent rule is the VJP applied to t
    linear = False         # linear in every input: the tangent rule is the op applied to tangents
    differentiable = True
    constant_output = False  # the output never requires grad (comparisons)
    samples: tuple = ()
    # ---- how the op is exposed (chainrule.functions builds cr.<op>, methods and tables from these)
    api = None             # public name in cr and chainrule.functions, or a tuple (name, aliases...)
    method = False         # True: a Tensor method under the api names; or a name / tuple of names
    operators = ()         # Tensor operators, e.g. ("__mul__", "__rmul__"); __r*__ swap operands
    ufunc = ()             # NumPy ufunc(s) Tensor.__array_ufunc__ sends to the api function
    numpy = ()             # NumPy function(s) Tensor.__array_function__ sends to the api function
    cli = False            # True (or names): the command line's expression language may call it
    functional = False     # True (or a name): an alias in cr.nn.functional
    example = None         # one line for the generated function's docstring: "cr.exp(x)  # ..."
    inputs = None          # how many of forward's leading parameters are tensor inputs, where its
                           # signature does not say (linear(x, w, b=None): 3); default: those
                           # without a default value (the rest are params)
    spelling = None        # arguments of the generated function: None = forward's (inputs, then
                           # params), "reduce" = (x, axis, keepdims, dim=, keepdim=), "axis" =
                           # (x, axis, dim=) with forward's default axis

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def vjp(self, g, ans, needs, *inputs, **params):
        raise NotImplementedError(f"{self.name}: no backward rule")

    def jvp(self, tangents, ans, *inputs, **params):
        if self.elementwise:
            return self.vjp(tangents[0], ans, (True,), *inputs, **params)[0]
        if self.linear:
            filled = [zeros_like_any(x) if t is None else t for t, x in zip(tangents, inputs)]
            return self(*filled, **params)
        raise NotImplementedError(f"{self.name}: no tangent rule")

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in _PLANNED and "plan1" in self.__dict__:   # a registered primitive changed what
            self.plan1, self.plan2, self.plan3 = autograd.plans(self)   # apply's plans follow

    def __call__(self, *inputs, **params):
        """Apply to Tensors (recorded) or to arrays (plain NumPy result)."""
        return autograd.apply(self, inputs, params or autograd.NO_PARAMS)

    def __repr__(self):
        return f"<primitive {self.name}>"


_PLANNED = frozenset({"saves_inputs", "saves_ans", "keeps", "residual"})
_LISTENERS = []   # called with every primitive registered (chainrule.functions exposes it)
_UNDO: dict[str, list] = {}   # primitive name -> callables that take back what listeners installed


def register(cls):
    """Class decorator: instantiate the primitive, enter it in REGISTRY under its name and expose it
    (cr.<api>, Tensor methods, NumPy dispatch...: whatever listeners are installed; also after import).
    """
    prim = cls()
    if prim.constant_output:
        prim.keeps = autograd.NO_NODE
    elif prim.reads is not None:
        prim.keeps = autograd.keep_table(prim, len(prim.reads))
    prim.plan1, prim.plan2, prim.plan3 = autograd.plans(prim)
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name!r} registered twice")
    REGISTRY[prim.name] = prim
    try:
        for listener in _LISTENERS:
            _UNDO.setdefault(prim.name, []).extend(listener(prim) or ())
    except Exception:
        unregister(prim.name)   # a clash (a name declared twice) leaves nothing half-installed
        raise
    return prim


def unregister(name):
    """Remove primitive `name` from REGISTRY and take back everything its registration installed."""
    prim = REGISTRY.pop(name)
    for undo in reversed(_UNDO.pop(name, [])):
        undo()
    return prim


def on_register(listener):
    """Call listener(prim) for every primitive, registered now or later; it returns undo callables."""
    _LISTENERS.append(listener)
    for prim in list(REGISTRY.values()):
        _UNDO.setdefault(prim.name, []).extend(listener(prim) or ())


_ABSENT = object()


def put(target, key, value):
    """target[key] = value (a dict) or setattr (a class or module); returns a callable that undoes it."""
    if isinstance(target, dict):
        old = target.get(key, _ABSENT)
        target[key] = value

        def undo():
            if target.get(key) is value:
                if old is _ABSENT:
                    del target[key]
                else:
                    target[key] = old
        return undo
    old = target.__dict__.get(key, _ABSENT) if hasattr(target, "__dict__") else _ABSENT
    setattr(target, key, value)

    def undo():
        if getattr(target, key, None) is value:
            if old is _ABSENT:
                delattr(target, key)
            else:
                setattr(target, key, old)
    return undo


def zeros_like_any(x):
    """Zeros shaped like x: an array for arrays and numbers, a constant Tensor for Tensors."""
    if isinstance(x, autograd.Tensor):
        return autograd.Tensor._make(np.zeros_like(x.data), False)
    return np.zeros_like(x)


def add_tangents(a, b):
    """a + b where None stands for a zero tangent."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class ShapeError(RuntimeError, ValueError):
    """Shapes that do not fit: a RuntimeError as in PyTorch, still catchable as ValueError."""


class RangeError(IndexError, RuntimeError):
    """An index outside its dimension: IndexError, and the RuntimeError PyTorch raises (gather)."""


class EmptyError(ShapeError, IndexError):
    """A reduction without identity (max, argmax) over an empty dimension: PyTorch raises
    IndexError or RuntimeError; still a ValueError as before."""


def shape_error(op, msg, *shapes):
    shown = " and ".join(str(tuple(s)) for s in shapes)
    return ShapeError(f"{op}: shapes {shown} {msg}")
