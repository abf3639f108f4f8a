"""`flat_code(f, *inputs)`: f's traced Program, forward then backward, as a standalone NumPy function
in the lecture's flat-code style (one op per line, `grad_s3 = grad_L * (1 - L) * L`).

Every line comes from a primitive's print form (`flat_forward`, e.g. `"{0} * {1}"`); the backward
lines are the equations `Program.grad()` recorded by running each primitive's own `vjp`, so no
derivative is written twice. A primitive without a print form is exported as a call of its own
`forward` method, whose source is copied into the file. Single-use backward temporaries are inlined.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap

import numpy as np

from .. import autograd
from ..ops.shape import IndexSlot
from ..program import Program, Var, arg_names, make_program
from ..tensor import Tensor


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
    if isinstance(v, np.dtype):
        return f"np.{v.name}"
    if isinstance(v, type) and issubclass(v, np.generic):
        return f"np.{np.dtype(v).name}"
    if isinstance(v, IndexSlot):   # an index array input of getitem/scatter: fill() names it
        return f"__op{v.slot}__"
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


def full_params(prim, params) -> dict:
    """The equation's params with the forward's defaults filled in (as flat code prints them)."""
    full = {}
    try:
        for p in inspect.signature(prim.forward).parameters.values():
            if p.default is not inspect.Parameter.empty:
                full[p.name] = p.default
    except (TypeError, ValueError):
        pass
    full.update(params)
    return full


def _params(prim, params):
    """full_params as source literals."""
    return {k: literal(v) for k, v in full_params(prim, params).items()}


# ---------------------------------------------------------------- print forms

def helper_name(prim) -> str:
    return "_" + re.sub(r"\W", "_", prim.name)


def helper_source(prim) -> list:
    """[(name, source)] of the function a primitive without a print form is exported as: its own
    `forward` method, renamed, plus the module-level functions that method calls."""
    reason = getattr(prim, "flat_reason", None)
    if reason:
        raise NotImplementedError(f"flat_code: op '{prim.name}' cannot be exported: {reason}")
    fwd = getattr(type(prim), "forward", None)
    if fwd is None or isinstance(prim, autograd._FunctionPrim):
        raise NotImplementedError(f"flat_code: op '{prim.name}' cannot be exported: it is a "
                                  f"user-defined cr.Function (no NumPy forward to copy)")
    src = textwrap.dedent(inspect.getsource(fwd))
    if re.search(r"\bself\.", src):
        raise NotImplementedError(f"flat_code: op '{prim.name}' cannot be exported: its forward "
                                  f"reads attributes of the primitive (give it a flat_forward)")
    src = re.sub(r"def forward\(self,\s*", f"def {helper_name(prim)}(", src, count=1)
    out = [(helper_name(prim), src)]
    module = inspect.getmodule(fwd)
    pending = list(fwd.__code__.co_names)
    seen = set()
    while pending:   # module-level helpers the forward calls (and those they call)
        name = pending.pop()
        obj = getattr(module, name, None)
        if name in seen or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
            continue
        seen.add(name)
        out.append((name, textwrap.dedent(inspect.getsource(obj))))
        pending.extend(obj.__code__.co_names)
    return out


def print_form(prim, params, n_inputs) -> str:
    """The template one equation of `prim` prints as: "{0} * {1}", "np.exp({0})", or a call."""
    if getattr(prim, "flat_reason", None):
        helper_source(prim)   # raises, naming the reason
    form = prim.print_form(params) if hasattr(prim, "print_form") else None
    form = form or getattr(prim, "flat_forward", None)
    if form:
        return form
    helper_source(prim)   # exportable: checked now, emitted by the caller
    args = ", ".join(f"{{{i}}}" for i in range(n_inputs))
    kw = "".join(f", {k}={{{k}}}" for k in params)
    call = f"{helper_name(prim)}({args}{kw})"
    return call + "[0]" if prim.residual else call


def numpy_widens(e):
    """The dtype name to cast to where NumPy's ufunc would give a wider dtype than the primitive's
    forward (PyTorch's promotion: float32 * an int64 0-d tensor stays float32), else None."""
    uf = getattr(e.prim, "ufunc", None)
    where = e.prim.name == "where" and len(e.inputs) == 3
    if not where and (not isinstance(uf, np.ufunc) or uf.nout != 1 or len(e.inputs) != uf.nin):
        return None
    kinds = []
    for x in e.inputs[1:] if where else e.inputs:
        if isinstance(x, Var):
            kinds.append(np.dtype(x.dtype))
        elif isinstance(x, bool):
            kinds.append(np.dtype(bool))
        elif isinstance(x, (int, float, complex)):
            kinds.append(type(x))   # a Python number: NumPy's weak scalar
        else:
            kinds.append(np.asarray(x).dtype)
    try:
        got = np.result_type(*[k if isinstance(k, np.dtype) else k(0) for k in kinds]) if where \
            else uf.resolve_dtypes(tuple(kinds) + (None,))[-1]
    except (TypeError, AttributeError, np.exceptions.DTypePromotionError):
        return None
    want = np.dtype(e.out.dtype)
    if e.prim.name == "pow" and kinds[0] == np.dtype(bool):
        got = None   # `bool_array ** 2` takes np.square's int8 loop, not np.power's int64
    return want.name if got != want and want.kind in "biufc" else None


# ---------------------------------------------------------------- precedence-aware filling

_BINOP_PREC = {ast.BitOr: 6, ast.BitXor: 7, ast.BitAnd: 8, ast.LShift: 9, ast.RShift: 9,
               ast.Add: 10, ast.Sub: 10, ast.Mult: 11, ast.MatMult: 11, ast.Div: 11,
               ast.FloorDiv: 11, ast.Mod: 11, ast.Pow: 13}
_ATOM = 16


def _prec(node) -> int:
    if isinstance(node, ast.BinOp):
        return _BINOP_PREC[type(node.op)]
    if isinstance(node, ast.UnaryOp):
        return 4 if isinstance(node.op, ast.Not) else 12
    if isinstance(node, ast.Compare):
        return 5
    if isinstance(node, ast.BoolOp):
        return 3 if isinstance(node.op, ast.And) else 2
    if isinstance(node, (ast.IfExp, ast.Lambda, ast.NamedExpr)):
        return 1
    if isinstance(node, ast.Tuple):
        return 0
    return _ATOM


def expr_prec(text: str) -> int:
    """Precedence of a Python expression's top-level operator (atoms are highest)."""
    try:
        return _prec(ast.parse(text, mode="eval").body)
    except SyntaxError:
        return 0


def _needs_parens(parent, child, child_prec) -> bool:
    if isinstance(parent, ast.BinOp):
        p = _BINOP_PREC[type(parent.op)]
        if child is parent.left:
            return child_prec < p or (p == 13 and child_prec == 13)
        if p == 13 and child_prec == 12:   # x ** -1 needs none
            return False
        return child_prec < p or (child_prec == p and p != 13)
    if isinstance(parent, ast.UnaryOp):
        return child_prec < (4 if isinstance(parent.op, ast.Not) else 12)
    if isinstance(parent, ast.Compare):
        return child_prec <= 5
    if isinstance(parent, ast.BoolOp):
        return child_prec <= (3 if isinstance(parent.op, ast.And) else 2)
    if isinstance(parent, (ast.Attribute, ast.Subscript)) and child is parent.value:
        return child_prec < _ATOM
    if isinstance(parent, ast.Call) and child is parent.func:
        return child_prec < _ATOM
    if isinstance(parent, ast.Tuple):
        return child_prec == 0
    return False


def fill(template: str, operands: list, params: dict) -> str:
    """Put operand expressions into a print form, adding parentheses only where Python needs them
    (so the line evaluates in the order the program does)."""
    marks = [f"__op{i}__" for i in range(len(operands))]
    inputs = ", ".join(operands)
    text = template.format(*marks, inputs=inputs, **params)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        out = text
        for m, o in zip(marks, operands):
            out = out.replace(m, f"({o})")
        return out
    spots = []
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            if isinstance(child, ast.Name) and child.id in marks:
                spots.append((child.col_offset, child.end_col_offset, parent, child))
    spots.sort(key=lambda s: -s[0])
    out = text
    for start, end, parent, child in spots:
        o = operands[marks.index(child.id)]
        if _needs_parens(parent, child, expr_prec(o)):
            o = f"({o})"
        out = out[:start] + o + out[end:]
    return out


# ---------------------------------------------------------------- printing a Program

class Printer:
    """Writes a Program as flat NumPy lines: forward values and gradients get a line each;
    backward temporaries used once are inlined into the line that uses them."""

    def __init__(self, program: Program, inline_all=False):
        self.p = program
        self.inline_all = inline_all
        self.uses = {}
        for e in program.eqns:
            for x in e.inputs:
                if isinstance(x, Var):
                    self.uses[id(x)] = self.uses.get(id(x), 0) + 1
        self.outputs = {id(o) for o in program.outputs if isinstance(o, Var)}
        for o in program.outputs:
            if isinstance(o, Var):
                self.uses[id(o)] = self.uses.get(id(o), 0) + 1
        self.text = {}       # id(var) -> expression text where the var is inlined
        self.consts = {id(v): t for v, t in program.consts}
        self.helpers = {}    # name -> source of functions the lines call

    def operand(self, x) -> str:
        if isinstance(x, Var):
            if id(x) in self.consts:   # a tensor made outside the program: its value, written in
                return literal(self.consts[id(x)].data)
            return self.text.get(id(x), x.name)
        return literal(x)

    def expression(self, e) -> str:
        ins = list(e.inputs)
        form = print_form(e.prim, e.params, len(ins))
        if "(" in form and form.startswith("_"):
            self.helpers.update(helper_source(e.prim))
        for i, x in enumerate(ins):
            if x is None:   # an optional input left out (linear without bias)
                form = form.replace(f" + {{{i}}}", "")
        text = fill(form, [self.operand(x) for x in ins], _params(e.prim, e.params))
        cast = numpy_widens(e)
        return f"({text}).astype(np.{cast})" if cast else text

    def inlined(self, e) -> bool:
        v = e.out
        if id(v) in self.outputs or e.backward_of is None:
            return False
        if self.inline_all:
            return True
        return v.grad_of is None and self.uses.get(id(v), 0) == 1

    def lines(self):
        """[(target, expression, comment)] in program order."""
        out = []
        aliases = {}
        for k, v, g in self.p.aliases:
            aliases.setdefault(k, []).append((v, g))
        taken = {e.out.name for e in self.p.eqns} | {v.name for v in self.p.inputs}
        for k, e in enumerate(self.p.eqns):
            for v, g in aliases.get(k, ()):
                name = f"grad_{v.name}"
                if name in taken:
                    continue
                taken.add(name)
                out.append((name, self.operand(g), None))
                self.text[id(g)] = name   # later lines read the gradient under this node's name
            if e.backward_of is not None and self.uses.get(id(e.out), 0) == 0 \
                    and id(e.out) not in self.outputs:
                continue   # a backward value nothing reads
            text = self.expression(e)
            if self.inlined(e):
                self.text[id(e.out)] = text
                continue
            comment = None
            if e.backward_of is not None and e.prim.name == "add" and e.out.grad_of is not None:
                comment = "fan-out: gradients add"
            out.append((e.out.name, text, comment))
        return out


def _rename_root(program: Program, new: str):
    """Call the program's first output `new` (L for a loss) and its gradient grad_<new>."""
    root = program.outputs[0]
    taken = {v.name for v in program.inputs} | {v.name for v, _ in program.consts}
    if not isinstance(root, Var) or root in program.inputs or new in taken:
        return
    root.name = new
    for e in program.eqns:
        if e.out.grad_of is root:
            e.out.name = f"grad_{new}"


def flat_code(f, *example_inputs, name: str | None = None) -> str:
    """Trace `f` on the example inputs and return NumPy-only source of `name(*inputs) -> (out, grads)`.

    grads holds d out / d input for each floating input (None for integer inputs such as targets).

    >>> src = cr.viz.flat_code(lambda x, y, z: (x + y) * z, -2.0, 5.0, -4.0)
    >>> print(src)   # s0 = x + y / L = s0 * z / grad_L = ... / grad_z = grad_L * s0 ...
    """
    args = arg_names(f, len(example_inputs))
    tensors = []
    for nm, v in zip(args, example_inputs):
        a = np.asarray(v.data if isinstance(v, Tensor) else v)
        t = Tensor._make(np.array(a, copy=True), False)
        t.name = nm
        tensors.append(t)
    with autograd.enable_grad():
        prog = make_program(f, *tensors)
    out = prog.outputs[0] if len(prog.outputs) == 1 else None
    if not isinstance(out, Var) or out in prog.inputs or not prog.eqns \
            or out.dtype.kind not in "fc":
        raise ValueError(f"flat_code: {_func_name(f)} must return a Tensor computed from its "
                         f"floating inputs")
    for e in prog.eqns:   # a clear error before anything is differentiated
        print_form(e.prim, e.params, len(e.inputs))
    wrt = [v.name for v in prog.inputs if v.dtype.kind in "fc"]
    gp = prog.grad(wrt=wrt) if out.shape == () else prog.grad(wrt=wrt)
    _rename_root(gp, "L" if out.shape == () else "out")
    printer = Printer(gp)
    rows = printer.lines()
    grads = {}
    n_out = len(prog.outputs)
    for v, g in zip(wrt, gp.outputs[n_out:]):
        grads[v] = g
    body, bwd_started = [], False
    for target, text, comment in rows:
        line = f"{target} = {text}" + (f"  # {comment}" if comment else "")
        body.append(line)
    returned = []
    for v in gp.inputs[:len(prog.inputs)]:
        g = grads.get(v.name)
        if g is None:
            returned.append("None")
        elif g.name != f"grad_{v.name}":   # the value another node's name already holds
            body.append(f"grad_{v.name} = {g.name if id(g) not in printer.consts else printer.operand(g)}")
            returned.append(f"grad_{v.name}")
        else:
            returned.append(g.name)
    fwd_count = sum(1 for e in gp.eqns if e.backward_of is None)
    lines = ['"""Generated by chainrule.viz.flat_code: forward one op per line, then backward."""',
             "import numpy as np"]
    for hname, src in printer.helpers.items():
        lines += ["", "", src.strip("\n")]
    fname = name or f"{_func_name(f)}_flat"
    head = [a.name for a in gp.inputs[:len(prog.inputs)]]
    lines += ["", "", f"def {fname}({', '.join(head)}):", "    # forward"]
    n_fwd_lines = sum(1 for r in rows[:fwd_count])
    for k, line in enumerate(body):
        if k == n_fwd_lines and not bwd_started:
            lines.append("    # backward")
            bwd_started = True
        lines.append("    " + line)
    lines.append(f"    return {gp.outputs[0].name}, ({', '.join(returned)}"
                 f"{',' if len(returned) == 1 else ''})")
    return "\n".join(lines) + "\n"


def rule_text(prim, arrays, params, i, names, ans_name, upstream="g"):
    """The local rule of input i of one primitive, as the flat printer writes it from the traced
    vjp, e.g. `g * (1 - L) * L` for sigmoid (names: the operands' names)."""
    tensors = [Tensor._make(np.asarray(a, dtype=np.float64), False) if np.ndim(a) or
               isinstance(a, (float, np.floating)) else a for a in arrays]
    tensors = [t if isinstance(t, Tensor) else Tensor._make(np.asarray(t), False) for t in tensors]
    for t, nm in zip(tensors, names):
        t.name = nm
    with autograd.enable_grad():
        prog = make_program(lambda *xs: prim(*xs, **params), *tensors)
    wrt = [prog.inputs[i].name]
    gp = prog.grad(wrt=wrt, seed_input=True)
    gp.outputs[0].name = ans_name
    gp.inputs[-1].name = upstream
    grad = gp.outputs[-1]
    if not isinstance(grad, Var):
        return None
    printer = Printer(gp, inline_all=True)
    rows = {target: text for target, text, _ in printer.lines()}
    return rows.get(grad.name, printer.operand(grad))


def _func_name(f):
    name = getattr(f, "__name__", "f")
    return name if name.isidentifier() and name != "<lambda>" else "f"


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
