"""`cr.viz.html(output, "graph.html")`: one self-contained page (no network, works from file://)
that steps through the backward pass in the engine's execution order: Prev/Next (or the arrow
keys) highlight the node that runs and its edges, and show upstream × local = downstream for it,
with the copy gate's sum when a value used more than once is complete."""
from __future__ import annotations

import html as _html
import json
import shutil
import subprocess

from ..tensor import Tensor
from . import fmt
from .dot import build_dot
from .explain import walk
from .trace import Graph

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:12px;color:#212121}
#bar{display:flex;gap:8px;align-items:center;margin-bottom:8px}
button{font-size:14px;padding:4px 12px}
#panel{border:1px solid #bdbdbd;border-radius:6px;padding:8px 12px;margin-bottom:10px;
       min-height:70px;background:#fafafa}
#panel table{border-collapse:collapse;font-family:Menlo,Consolas,monospace;font-size:13px}
#panel td{padding:1px 8px}
.up{color:#c62828}.down{color:#c62828;font-weight:bold}.loc{color:#6a1b9a}
.gate{color:#616161;font-style:italic}.fan{color:#c62828;font-family:Menlo,Consolas,monospace}
#graph{overflow:auto}
.node.cur ellipse,.node.cur polygon,.node.cur path{stroke:#ff6f00;stroke-width:4}
.node.done ellipse,.node.done polygon{fill:#fff8e1}
.edge.cur path{stroke:#ff6f00;stroke-width:4}.edge.cur polygon{stroke:#ff6f00;fill:#ff6f00}
.pending text[fill="#c62828"]{opacity:0.12}
.hint{color:#757575;font-size:12px}
"""

_JS = r"""
const steps = JSON.parse(document.getElementById('steps').textContent);
const svg = document.querySelector('#graph svg');
const byTitle = {};
svg.querySelectorAll('g.node, g.edge').forEach(g => {
  const t = g.querySelector('title'); if (t) byTitle[t.textContent] = g; });
const edgeById = id => document.getElementById(id) || null;
function vertex(v) { return v ? byTitle[v] || null : null; }
function outEdge() {
  for (const k in byTitle) if (k.endsWith('->out')) return byTitle[k]; return null; }
let k = 0;
function show(i) {
  k = Math.max(0, Math.min(steps.length - 1, i));
  svg.querySelectorAll('.cur').forEach(g => g.classList.remove('cur'));
  svg.querySelectorAll('.done').forEach(g => g.classList.remove('done'));
  svg.querySelectorAll('g.edge, g.node').forEach(g => g.classList.add('pending'));
  if (byTitle.legend) byTitle.legend.classList.remove('pending');
  const oe = outEdge(); if (oe) oe.classList.remove('pending');
  for (let j = 0; j <= k; j++) {
    const s = steps[j];
    s.edges.forEach(e => { const g = edgeById(e); if (g) g.classList.remove('pending'); });
    if (s.kind === 'fan' || s.kind === 'done') s.fans.forEach(v => {
      const g = vertex(v); if (g) g.classList.remove('pending'); });
    const g = vertex(s.vertex); if (g && j < k) g.classList.add('done');
  }
  const s = steps[k];
  const g = vertex(s.vertex); if (g) g.classList.add('cur');
  if (s.kind === 'seed' && oe) oe.classList.add('cur');
  s.edges.forEach(e => { const g = edgeById(e); if (g) g.classList.add('cur'); });
  const p = document.getElementById('panel');
  p.dataset.node = s.name; p.dataset.kind = s.kind;
  p.innerHTML = s.html;
  document.getElementById('pos').textContent = 'step ' + (k + 1) + ' / ' + steps.length;
  document.getElementById('cur').textContent = s.name;
}
document.getElementById('prev').onclick = () => show(k - 1);
document.getElementById('next').onclick = () => show(k + 1);
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { show(k + 1); e.preventDefault(); }
  if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { show(k - 1); e.preventDefault(); }
  if (e.key === 'Home') show(0);
  if (e.key === 'End') show(steps.length - 1);
});
const m = location.hash.match(/step=(\d+)/);   // file.html#step=5 opens at step 5
show(m ? +m[1] - 1 : 0);
"""


def _e(s) -> str:
    return _html.escape(str(s), quote=True)


def _svg(dot_source: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("viz.html: laying out the graph needs graphviz's 'dot' program "
                           "(Debian: apt-get install graphviz); to_dot() and explain() work "
                           "without it")
    res = subprocess.run([exe, "-Tsvg"], input=dot_source.encode(), capture_output=True,
                         check=False)
    if res.returncode != 0:
        raise RuntimeError(f"viz.html: dot failed: {res.stderr.decode(errors='replace').strip()}")
    svg = res.stdout.decode("utf-8")
    return svg[svg.index("<svg"):]   # no XML prolog or DOCTYPE inside HTML


def _records(g: Graph, vid: dict, eid: dict) -> list:
    """walk(g) as the page's steps: leaves' copy-gate sums placed right after their last
    contribution arrives, and a last step listing every input's gradient."""
    root = g.name(g.root)
    raw = walk(g)
    leaf_fans = {id(s["src"]): s for s in raw if s["kind"] == "fan"
                 and isinstance(s["src"], Tensor)}
    pending = {k: {id(n) for n, _ in s["edges"]} for k, s in leaf_fans.items()}
    steps = []

    def fan(s):
        text = s["text"]
        return {"kind": "fan", "name": s["name"], "vertex": vid.get(id(s["src"])),
                "edges": [eid[(id(n), i)] for n, i in s["edges"] if (id(n), i) in eid],
                "fans": [vid.get(id(s["src"]))],
                "html": (f'<div><b>{_e(s["name"])}</b> is complete: every consumer has sent '
                         f'its gradient back</div><div class="fan">{_e(text)}</div>'
                         f'<div class="gate">copy gate: adds</div>')}

    for s in raw:
        if s["kind"] == "seed":
            steps.append({"kind": "seed", "name": root, "vertex": "out", "edges": [],
                          "fans": [], "html": f"<div>backward starts at the output: "
                                              f'<span class="down">d{_e(root)}/d{_e(root)} = '
                                              f"1.00</span></div>"})
            continue
        if s["kind"] == "fan":
            if id(s["src"]) not in leaf_fans:
                steps.append(fan(s))
            continue
        rows = "".join(
            f'<tr><td>→ {_e(p["to"])}</td><td class="up">{_e(p["up"])}</td><td>×</td>'
            f'<td class="loc">{_e(p["local"])}</td><td>=</td>'
            f'<td class="down">d{_e(root)}/d{_e(p["to"])} = {_e(p["down"])}</td>'
            f'<td class="gate">{_e(p["gate"])}</td></tr>' for p in s["parts"])
        steps.append({
            "kind": "node", "name": s["name"], "vertex": vid.get(id(s["src"])),
            "edges": [eid[(id(n), i)] for n, i in s["edges"] if (id(n), i) in eid], "fans": [],
            "html": (f'<div><b>{_e(s["name"])} = {_e(s["op"])}(...)</b> runs its rule: '
                     f'upstream <span class="up">d{_e(root)}/d{_e(s["name"])} = {_e(s["up"])}'
                     f'</span></div><table><tr class="hint"><td></td><td>upstream</td><td></td>'
                     f'<td>local</td><td></td><td>downstream</td><td></td></tr>{rows}</table>')})
        for k, left in pending.items():
            if left and id(s["src"]) in left:
                left.discard(id(s["src"]))
                if not left:
                    steps.append(fan(leaf_fans[k]))
    grads = [(g.name(t), fmt.summary(g.grad(t))) for t in g.leaves if g.grad(t) is not None]
    steps.append({"kind": "done", "name": "done", "vertex": None, "edges": [],
                  "fans": [vid.get(id(t)) for t in g.leaves],
                  "html": "<div>backward is done; the inputs' gradients:</div><table>" + "".join(
                      f'<tr><td>d{_e(root)}/d{_e(n)}</td><td class="down">{_e(v)}</td></tr>'
                      for n, v in grads) + "</table>"})
    return steps


class Stepper:
    """The stepper page: `.source` is the HTML text, `.save(path)` writes it; shows in Jupyter."""

    def __init__(self, source: str, steps: list):
        self.source = source
        self.steps = steps

    def save(self, path) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.source)
        return str(path)

    def _repr_html_(self):
        # an iframe keeps the page's script and styles apart from the notebook's
        return (f'<iframe srcdoc="{_e(self.source)}" style="width:100%;height:640px;'
                f'border:1px solid #ddd"></iframe>')


def html(output: Tensor, path=None, params=None, rankdir: str = "LR",
         collapse: str | None = None, max_nodes: int | None = None, depth: int | None = None,
         title: str | None = None) -> Stepper:
    """A page that steps through the backward pass of scalar `output`; written to `path` if given.

    >>> cr.viz.html(loss, "graph.html", params=model)   # open graph.html, press → to step
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"viz.html: expected a Tensor output, got {type(output).__name__}")
    if output.data.size != 1:
        raise ValueError(f"viz.html: output has shape {output.shape}; the backward pass starts "
                         f"from a scalar (reduce it, e.g. .sum())")
    g = Graph(output, params=params)
    if g.freed:
        raise RuntimeError("viz.html: the graph was freed by backward(); call it before "
                           "backward() or use backward(retain_graph=True)")
    if g.root is None:
        raise ValueError("viz.html: the output is a leaf: there is no backward pass to step")
    src, vid, eid = build_dot(g, params, "values+grads", rankdir, collapse, max_nodes, depth)
    steps = _records(g, vid, eid)
    name = g.name(g.root)
    head = title or f"backward of {name} = {fmt.summary(output.data)}"
    data = json.dumps(steps).replace("</", "<\\/")
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{_e(head)}</title>'
            f"<style>{_CSS}</style></head><body>\n<h3>{_e(head)}</h3>\n"
            f'<div id="bar"><button id="prev">◀ Prev</button><button id="next">Next ▶</button>'
            f'<span id="pos"></span><span>current: <b id="cur"></b></span>'
            f'<span class="hint">arrow keys step; the engine runs nodes in this order</span></div>\n'
            f'<div id="panel"></div>\n<div id="graph">{_svg(src)}</div>\n'
            f'<script id="steps" type="application/json">{data}</script>\n'
            f"<script>{_JS}</script>\n</body></html>\n")
    stepper = Stepper(page, steps)
    if path is not None:
        stepper.save(path)
    return stepper
