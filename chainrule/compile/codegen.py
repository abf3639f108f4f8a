"""Python source for a step's equations, in the flat-code style: one NumPy statement per line.

Each line is the primitive's print form (`flat_forward`, or a call of a copy of its forward);
big constants are module-level names; buffer planning (`plan.py`) turns elementwise lines into
`np.<ufunc>(..., out=buffer)` and fusion (`fuse.py`) replaces chains by one kernel.
"""
from __future__ import annotations

import inspect
import textwrap

import numpy as np

from ..program import Var
from ..viz import flat


# print forms that skip a NumPy Python wrapper (the same call the primitive's forward makes)
FASTER = {"sum": "np.add.reduce({0}, axis={axis}, keepdims={keepdims})"}
# primitives whose print form computes differently from their forward: called as the forward
CALL_FORWARD = {"sum_of_squares"}


def _sum_of_squares(e, operands, scalar=False):
    """sum_of_squares' forward unrolled (0.0 + Σ np.vdot(x, x), in its order and dtype)."""
    if not e.inputs or not all(isinstance(x, Var) and x.dtype.kind in "fiub" for x in e.inputs):
        return None
    terms = " + ".join(f"np.vdot({o}, {o})" for o in operands)
    if not scalar:
        return f"np.asarray(0.0 + {terms}, dtype=np.{e.out.dtype.name})"
    # a value used inside the step only: the NumPy scalar (the same value as the 0-d array),
    # which the scalar arithmetic after it (alpha * R) takes without a ufunc call
    return f"np.{e.out.dtype.name}(0.0 + {terms})"


def _fast_form(e):
    """np.mean of a float32/float64 array as `add.reduce(x) / n`: what np.mean computes (its
    float64 division of a float sum, rounded back, is the correctly rounded float division),
    without np.mean's Python wrapper."""
    if e.prim.name != "mean" or set(e.params) - {"axis", "keepdims"} or not e.inputs:
        return None
    x = e.inputs[0]
    if not isinstance(x, Var) or x.dtype not in (np.float32, np.float64) or e.out.dtype != x.dtype:
        return None
    axis = e.params.get("axis")
    axes = range(len(x.shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
    try:
        n = int(np.prod([x.shape[a] for a in axes]))
    except (IndexError, TypeError):
        return None
    if n == 0 or n >= 2 ** 24:
        return None
    return f"np.add.reduce({{0}}, axis={{axis}}, keepdims={{keepdims}}) / {n}"


class Source:
    """Builds the generated module: header, helpers, constants and the step function's body."""

    def __init__(self, name="step"):
        self.name = name
        self.helpers = {}       # helper name -> source
        self.namespace = {"np": np}
        self.consts = []        # (name, comment)
        self.body = []          # lines of the function body (no indent)
        self.kernels = []       # numba kernel sources (fusion)
        self.fused = 0
        self.contiguous = set()  # id(input Var) a kernel writes through .reshape(-1): must be C
        self.escaping = None     # id(Var) of values leaving the step (set by plan.emit)
        self.ce_targets = {}     # (id(target), ignore_index, N, C) -> (valid, idx) names
        self.scalars = {}        # (dtype, bytes) -> name of a module-level 0-d array
        self._k = 0

    def constant(self, value, hint="k") -> str:
        """Source for a constant: inline when short, else a module-level name bound to it."""
        if isinstance(value, np.ndarray) and value.size > 8 or isinstance(value, np.generic) \
                and not isinstance(value, (np.floating, np.integer, np.bool_)):
            name = f"_{hint}{self._k}"
            self._k += 1
            self.namespace[name] = value
            self.consts.append((name, f"{value.dtype.name}{list(value.shape)} constant"))
            return name
        try:
            return flat.literal(value)
        except TypeError:
            name = f"_{hint}{self._k}"
            self._k += 1
            self.namespace[name] = value
            self.consts.append((name, f"{type(value).__name__} constant"))
            return name

    def cross_entropy(self, e, residual, inplace):
        """Lines of a cross_entropy (or cross_entropy_grad) equation, or None for the generic
        call: the targets are checked (range, ignore_index) once per call and shared by both
        equations; the row offsets are a constant; the gradient updates the forward's softmax
        residual in place when nothing else reads it (inplace)."""
        from ..ops import nn
        x, target = e.inputs[0], e.inputs[1]
        if set(e.params) - {"reduction", "ignore_index"} or not isinstance(x, Var) \
                or len(x.shape) != 2 or not isinstance(target, (Var, np.ndarray)) \
                or target.dtype.kind not in "iu" or target.shape != x.shape[:1]:
            return None
        n, c = x.shape
        reduction, ii = e.params.get("reduction", "mean"), e.params.get("ignore_index")
        lines = []
        key = (id(target), ii, n, c)
        names = self.ce_targets.get(key)
        if names is None:
            names = self.ce_targets[key] = (f"{e.out.name}_valid", f"{e.out.name}_idx")
            rows = self.constant(np.arange(0, n * c, c), "rows")
            lines.append(f"{names[0]}, {names[1]} = _ce_targets({self.operand(target)}, {ii!r}, "
                         f"{rows}, {c})  # targets checked per call: in range, rows ignored")
        for fn in (nn.unsigned_top, nn._ce_targets, nn._ce_forward, nn._stable_shift,
                   nn._ce_grad_into):
            self.helpers.setdefault(fn.__name__, textwrap.dedent(inspect.getsource(fn)))
        if e.prim.name == "cross_entropy":
            call = f"_ce_forward({x.name}, {names[0]}, {names[1]}, {reduction!r})"
            lines.append(f"{e.out.name}, {e.out.name}_residual = {call}" if residual
                         else f"{e.out.name} = {call}[0]")
        else:
            note = ", in place over the softmax residual (read only here)" if inplace else ""
            g, scale = e.inputs[2], ""
            if isinstance(g, (np.ndarray, np.generic)) and g.ndim == 0 and reduction != "none":
                # g/N (mean) or g (sum) of a constant seed, made now: what a call with no
                # ignored row multiplies by
                scale = f", scale={self.operand(np.asarray(g / n if reduction == 'mean' else g))}"
            lines.append(f"{e.out.name} = _ce_grad_into({x.name}{'' if inplace else '.copy()'}, "
                         f"{names[0]}, {names[1]}, {self.operand(g)}, {reduction!r}{scale})"
                         f"  # backward{note}")
        return lines

    def operand(self, x) -> str:
        if isinstance(x, Var):
            return x.name
        if isinstance(x, (np.ndarray, np.generic)) and x.ndim == 0 and x.dtype.kind in "fiu" \
                and x.dtype not in (np.float64, np.int64):
            # a typed scalar (float32 1/N, 2·alpha): one 0-d array bound at load time; a
            # ufunc takes it faster than an np.float32(...) made at every call
            return self.scalar(x)
        return self.constant(x)

    def scalar(self, x) -> str:
        """The name of a module-level 0-d array holding x (one per dtype and value)."""
        key = (x.dtype.str, x.tobytes())
        table = self.scalars
        if key not in table:
            table[key] = name = f"_c{len(table)}"
            self.namespace[name] = np.array(x)
            self.consts.append((name, f"{x.dtype.name} {flat.literal(x.item())}"))
        return table[key]

    def expression(self, e) -> str:
        """The right-hand side of equation e."""
        prim, params, ins = e.prim, e.params, list(e.inputs)
        if prim.name in CALL_FORWARD:
            inside = self.escaping is not None and id(e.out) not in self.escaping
            return _sum_of_squares(e, [self.operand(x) for x in ins], inside) or self._call(e)
        if prim.name == "cast" and set(params) == {"dtype"} and ins and isinstance(ins[0], Var) \
                and not ins[0].shape:   # a 0-d cast (the learning rate): its forward, inline
            return f"{ins[0].name}.astype(np.{np.dtype(params['dtype']).name})"
        if prim.name == "one_hot" and set(params) <= {"num_classes", "dtype"} and ins \
                and isinstance(ins[0], Var):   # the identity matrix made once, not per call
            eye = np.eye(params["num_classes"], dtype=params.get("dtype", np.float32))
            return f"{self.constant(eye, 'eye')}[{ins[0].name}]"
        try:
            form = _fast_form(e) or FASTER.get(prim.name) or flat.print_form(prim, params,
                                                                              len(ins))
            if "(" in form and form.startswith("_"):
                self.helpers.update(flat.helper_source(prim))
            filled = {k: self.constant(v, "p") for k, v in _full_params(prim, params).items()}
        except NotImplementedError:
            return self._call(e)
        for i, x in enumerate(ins):
            if x is None:   # an optional input left out (linear without bias)
                form = form.replace(f" + {{{i}}}", "")
        text = flat.fill(form, [self.operand(x) for x in ins], filled)
        cast = flat.numpy_widens(e)
        return f"({text}).astype(np.{cast})" if cast else text

    def _call(self, e):
        """A primitive with no print form (a user cr.Function): call its forward directly."""
        name = f"_prim{self._k}"
        self._k += 1
        self.namespace[name] = e.prim
        self.consts.append((name, f"the '{e.prim.name}' primitive (no NumPy print form)"))
        args = ", ".join(self.operand(x) for x in e.inputs)
        kw = "".join(f", {k}={self.constant(v, 'p')}" for k, v in e.params.items())
        call = f"{name}.forward({args}{kw})"
        return call + "[0]" if getattr(e.prim, "residual", False) else call

    def text(self, args, returns, doc) -> str:
        lines = [f'"""{doc}"""', "import numpy as np"]
        if self.consts:
            lines.append("")
            lines += [f"# {n}: {c} (bound when the module is loaded)" for n, c in self.consts]
        for src in self.helpers.values():
            lines += ["", "", src.strip("\n")]
        if self.kernels:
            lines[1:2] = ["import numpy as np", "from numba import njit"]
            for k in self.kernels:
                lines += ["", "", k]
        lines += ["", "", f"def {self.name}({', '.join(args)}):"]
        lines += ["    " + ln for ln in self.body] or ["    pass"]
        lines.append(f"    return ({', '.join(returns)}{',' if len(returns) == 1 else ''})")
        return "\n".join(lines) + "\n"


def _full_params(prim, params):
    """The equation's params with the forward's defaults filled in (as flat code prints them)."""
    return flat.full_params(prim, params)


def comment_of(e) -> str:
    return e.prim.name + ("" if e.backward_of is None else " (backward)")
