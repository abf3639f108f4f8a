"""The recorded graph as plain data: nodes in forward order, leaves, values, and the gradient at
every node and along every edge (computed here on a retained graph; leaves' `.grad` is untouched)."""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..autograd import Node
from ..tensor import Tensor


def _arr(x):
    return x.data if isinstance(x, Tensor) else x


def _shape(x):
    return tuple(np.shape(_arr(x)))


def saved_ans(node):
    """The node's saved result, copied: some rules (residual=True) consume it in place."""
    ans = node.ans
    return ans.copy() if isinstance(ans, np.ndarray) else ans


def _replay(node, arrays):
    """The node's forward result recomputed from its input arrays (no graph is recorded)."""
    prim = node.prim
    if isinstance(prim, autograd._FunctionPrim):   # a user Function: run its forward on a fresh ctx
        args = [Tensor._make(a, False) if isinstance(a, np.ndarray) else a for a in arrays]
        out = prim.cls.forward(autograd.Context(), *args)
        return out.data if isinstance(out, Tensor) else np.asarray(out)
    out = prim.forward(*arrays, **node.params)
    return np.asarray(out[0] if prim.residual else out)


def input_arrays(nodes, output) -> tuple[dict, dict]:
    """(id(node) -> its input arrays, id(source) -> the array flowing out of that node or leaf).

    Nodes of primitives with saves_inputs=False keep only a shape stand-in (autograd.Meta) for
    inputs that require grad; those values are taken from the producing node's saved output or
    recomputed by replaying the forward pass from the leaves, in creation order (no recursion).
    nodes: in creation order. output: the tensor the last node made. Nodes a backward pass freed
    are left out, and values that depend on them are None.
    """
    nodes = [n for n in nodes if n.arrays is not None]
    values: dict[int, np.ndarray] = {}
    for n in nodes:   # values some node kept: inputs it saved, its own output when it saves it
        for e, a in zip(n.edges, n.arrays):
            if isinstance(e, Node) and isinstance(a, np.ndarray):
                values[id(e)] = a
            elif isinstance(e, Tensor):
                values[id(e)] = e.data
        if n.prim.saves_ans and not n.prim.residual and isinstance(n.ans, np.ndarray):
            values.setdefault(id(n), n.ans)
    if output.grad_fn is not None:
        values[id(output.grad_fn)] = output.data
    arrays: dict[int, tuple] = {}
    with autograd.no_grad(), np.errstate(all="ignore"):
        for n in nodes:
            if not any(isinstance(a, autograd.Meta) for a in n.arrays):
                arrays[id(n)] = tuple(n.arrays)
                continue
            real = []
            for e, a in zip(n.edges, n.arrays):
                if isinstance(a, autograd.Meta):
                    if id(e) not in values:   # made earlier, so its own inputs are known
                        ins = arrays.get(id(e))
                        ok = ins is not None and not any(x is None for x in ins)
                        values[id(e)] = _replay(e, ins) if ok else None
                    a = values[id(e)]
                real.append(a)
            arrays[id(n)] = tuple(real)
    return arrays, values


def leaf_names(params=None) -> dict:
    """id(tensor) -> name, from a dict of tensors or a module's named_parameters()."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = dict(params.named_parameters())
    elif not isinstance(params, dict):
        raise TypeError(f"viz: params= expects a dict name -> Tensor or a Module, got "
                        f"{type(params).__name__}")
    return {id(t): str(k) for k, t in params.items()}


class Graph:
    """What survives of the graph behind `output`, walked without recursion.

    nodes: op nodes in forward (creation) order. leaves: leaf tensors in order of first use.
    value(src) / grad(src): the array flowing out of a node or leaf (None when unknown).
    edge_grad[(id(node), i)]: the gradient sent from `node` back along input i.
    order: the nodes in the order the engine's backward ran them (its observer calls).
    """

    def __init__(self, output: Tensor, params=None, grads: bool = True, grad_output=None):
        if not isinstance(output, Tensor):
            raise TypeError(f"viz: expected a Tensor output, got {type(output).__name__}")
        self.output = output
        self.root = output.grad_fn
        self.nodes = sorted(autograd.toposort([self.root]) if self.root else [],
                            key=lambda n: n.seq)
        self.freed = any(n.inputs is None for n in self.nodes)
        self.consumers: dict[int, list] = {}
        leaves, seen = [], set()
        for n in self.nodes:
            for i, e in enumerate(n.edges):
                if e is None:
                    continue
                self.consumers.setdefault(id(e), []).append((n, i))
                if isinstance(e, Tensor) and id(e) not in seen:
                    seen.add(id(e))
                    leaves.append(e)
        if self.root is None and output.requires_grad:
            leaves.append(output)
        self.leaves = leaves
        self._values: dict[int, np.ndarray] = {}
        self._arrays, self._values = input_arrays(self.nodes, output)
        if self.root is not None:
            self._values[id(self.root)] = output.data
        for t in leaves:
            self._values[id(t)] = t.data
        self.names = self._name_all(params)
        self._grads: dict[int, np.ndarray] = {}
        self.edge_grad: dict[tuple, np.ndarray] = {}
        self.order: list = []
        self.has_grads = False
        if grads:
            self._compute_grads(grad_output)

    # ---------------------------------------------------------------- names
    def _name_all(self, params):
        given = leaf_names(params)
        names, used = {}, set()
        for k, t in enumerate(self.leaves):
            name = given.get(id(t)) or t.name or f"leaf{k}"
            names[id(t)] = name
            used.add(name)
        for k, n in enumerate(self.nodes):
            names[id(n)] = f"s{k}"
        if self.root is not None:
            out = self.output.name or "L"
            names[id(self.root)] = out if out not in used else f"{out}_out"
        return names

    def name(self, src) -> str:
        return self.names.get(id(src), "?")

    # ---------------------------------------------------------------- values and grads
    def value(self, src):
        return self._values.get(id(src))

    def grad(self, src):
        return self._grads.get(id(src))

    def arrays(self, node):
        """The input arrays of `node` (replayed where the node kept only shapes), None when freed."""
        return self._arrays.get(id(node))

    def contributions(self, src) -> list:
        """[(consumer node, input index, gradient it sent back)] for every edge leaving `src` that
        carried a gradient, in the consumers' creation order: their sum is grad(src)."""
        return [(n, i, self.edge_grad[(id(n), i)]) for n, i in self.consumers.get(id(src), ())
                if (id(n), i) in self.edge_grad]

    def _compute_grads(self, grad_output):
        out = self.output
        if grad_output is None:
            if out.data.size != 1:
                return   # no implicit seed for a non-scalar output, as in backward()
            seed = np.ones_like(out.data)
        else:
            seed = np.broadcast_to(np.asarray(_arr(grad_output), dtype=out.data.dtype),
                                   out.shape).copy()
        if self.root is None:
            if out.requires_grad:
                self._grads[id(out)] = seed
                self.has_grads = True
            return
        if self.freed:
            # NOTE: backward() freed the saved arrays; only leaves' accumulated .grad survives.
            for t in self.leaves:
                if t.grad is not None:
                    self._grads[id(t)] = t.grad.data
                    self.has_grads = True
            return
        grads = self._grads
        grads[id(self.root)] = seed
        edge_grad = self.edge_grad
        order = self.order

        def observe(node, g, gs):   # the engine's own backward, seen edge by edge
            order.append(node)
            grads[id(node)] = _arr(g)
            for i, gi in enumerate(gs):
                if gi is not None:
                    edge_grad[(id(node), i)] = np.asarray(_arr(gi))

        # NOTE: NaN/inf are drawn in red, so NumPy's warnings about making them are noise here.
        with np.errstate(all="ignore"):
            totals = autograd.run_backward([out], [seed], retain_graph=True, capture=self.leaves,
                                           observer=observe)
        for t, gt in zip(self.leaves, totals):
            if gt is not None:
                grads[id(t)] = np.asarray(_arr(gt))
        self.has_grads = True


def node_grads(output: Tensor, grad_output=None, params=None) -> dict:
    """Gradient of `output` at every intermediate and leaf, by name, without touching `.grad`.

    >>> x = cr.tensor(3.0, requires_grad=True, name="x"); y = x * x
    >>> cr.viz.node_grads(y)["x"]   # array(6.)
    """
    g = Graph(output, params=params, grad_output=grad_output)
    if g.freed:
        raise RuntimeError("node_grads: the graph was freed by backward(); call it before "
                           "backward() or use backward(retain_graph=True)")
    out = {}
    for src in list(g.leaves) + g.nodes:
        v = g.grad(src)
        if v is not None:
            out[g.name(src)] = v
    return out
