"""Backprop you can see: draw the graph with values and gradients, explain the backward pass line by
line, step through it in the browser (html), and export any computation as flat NumPy code. graphviz is imported only when drawing."""
from .dot import draw, to_dot
from .explain import Explanation, explain
from .flat import compile_flat, flat_code
from .html import Stepper, html
from .modules import trace_modules
from .monitor import Monitor, monitor
from .trace import node_grads

__all__ = ["draw", "to_dot", "explain", "Explanation", "html", "Stepper", "flat_code", "compile_flat",
           "trace_modules", "node_grads", "monitor", "Monitor"]
