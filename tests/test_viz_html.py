"""cr.viz.html: the backward-pass stepper, driven in real headless chromium (DevTools protocol over
a pipe, no network): press Next / the arrow keys and read the highlighted node and the numbers."""
import base64
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz's 'dot' program is not installed (apt-get install graphviz)")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                    "(make system-deps installs it)")


class Browser:
    """Headless chromium spoken to with the DevTools protocol over --remote-debugging-pipe
    (fd 3 in, fd 4 out, messages separated by NUL): no websocket, no port."""

    def __init__(self, profile):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds():   # chromium reads commands on fd 3 and writes answers on fd 4
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)   # in case either is 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "--window-size=1400,1000", "about:blank"],
            close_fds=False, preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session = None

    def send(self, method, params=None, session=True):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                           "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})
        for _ in range(200):   # wait until the page's script ran
            if self.js("document.readyState === 'complete' && !!document.getElementById('pos')"
                       " && document.getElementById('pos').textContent !== ''"):
                return
            self.js("new Promise(r => setTimeout(r, 50))", wait=True)
        raise RuntimeError("page did not load")

    def js(self, expr, wait=False):
        res = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                             "awaitPromise": wait})
        if "exceptionDetails" in res:
            raise RuntimeError(f"js error in {expr!r}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def key(self, key, code):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                 "windowsVirtualKeyCode": code})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def state(self):
        return self.js("""(() => { const p = document.getElementById('panel');
            return {node: p.dataset.node, kind: p.dataset.kind, text: p.innerText,
                    pos: document.getElementById('pos').textContent,
                    cur: [...document.querySelectorAll('g.cur')].map(
                        g => g.id.startsWith('e_') ? g.id : g.querySelector('title').textContent)};
            })()""")

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make system-deps installs it)")
    b = Browser(tempfile.mkdtemp(dir=tmp_path, prefix="profile"))
    yield b
    b.close()


def _leaf(v, name):
    return cr.Tensor(v, requires_grad=True, dtype=cr.float64, name=name)


def _neuron():
    w0, x0, w1, x1, w2 = (_leaf(v, n) for v, n in
                          [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")])
    return cr.sigmoid(w0 * x0 + w1 * x1 + w2)


@needs_dot
def test_page_is_self_contained_and_steps_in_engine_order(tmp_path):
    f = _neuron()
    st = cr.viz.html(f, tmp_path / "n.html")
    page = (tmp_path / "n.html").read_text()
    assert page == st.source and "<svg" in page
    # nothing fetched from anywhere: no URLs other than the SVG's own namespaces
    for needle in ("src=\"http", "href=\"http", "<link", "import(", "fetch("):
        assert needle not in page
    # seed, then one step per node in the order the engine's observer saw them, then done
    order = []
    g = cr.viz.trace.Graph(f)
    assert [s["name"] for s in st.steps] == ["L"] + [g.name(n) for n in g.order] + ["done"]
    assert [s["kind"] for s in st.steps][:2] == ["seed", "node"]
    assert "srcdoc=" in st._repr_html_() and order == []
    with pytest.raises(ValueError, match="starts from a scalar"):
        cr.viz.html(_leaf([1.0, 2.0], "v") * 2.0)


@needs_dot
@needs_chromium
def test_sigmoid_neuron_stepper_in_headless_chromium(tmp_path, browser):
    path = tmp_path / "neuron.html"
    assert main(["graph", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
                 "-o", str(path)]) == 0
    browser.open(path.resolve().as_uri())
    s = browser.state()
    assert s["kind"] == "seed" and s["pos"] == "step 1 / 7" and "dL/dL = 1.00" in s["text"]
    assert "out" in s["cur"]
    browser.js("document.getElementById('next').click()")
    s = browser.state()
    # sigmoid runs first: upstream 1.00 × local (1 - L) * L = 0.20 = downstream dL/ds3 = 0.20
    assert s["node"] == "L" and "n4" in s["cur"] and "e_n4_0" in s["cur"]
    assert "1.00\t×\t(1 - L) * L = 0.20\t=\tdL/ds3 = 0.20" in s["text"]
    for _ in range(4):            # four more: add s3, add s2, mul s1, mul s0
        browser.key("ArrowRight", 39)
    s = browser.state()
    assert s["node"] == "s0" and s["pos"] == "step 6 / 7"
    assert "n0" in s["cur"] and {"e_n0_0", "e_n0_1"} <= set(s["cur"])
    assert "0.20\t×\tx0=-1.00\t=\tdL/dw0 = -0.20" in s["text"]
    assert "0.20\t×\tw0=2.00\t=\tdL/dx0 = 0.39" in s["text"]
    browser.screenshot(tmp_path / "neuron_step6.png")
    assert (tmp_path / "neuron_step6.png").read_bytes()[:4] == b"\x89PNG"
    browser.key("ArrowLeft", 37)
    assert browser.state()["node"] == "s1"
    for _ in range(5):            # past the end stays at the end
        browser.js("document.getElementById('next').click()")
    s = browser.state()
    assert s["kind"] == "done" and "dL/dw2\t0.20" in s["text"] and "dL/dx1\t-0.59" in s["text"]


@needs_dot
@needs_chromium
def test_fan_out_sum_shows_when_the_input_completes(tmp_path, browser):
    path = tmp_path / "fan.html"
    assert main(["graph", "x*x + max(x, y) + x**3 / y", "--at", "x=2,y=3", "-o", str(path)]) == 0
    browser.open(path.resolve().as_uri())
    seen = []
    for _ in range(12):
        s = browser.state()
        seen.append((s["kind"], s["node"], s["text"]))
        browser.key("ArrowRight", 39)
    kinds = [(k, n) for k, n, _ in seen]
    # y completes after div and maximum ran; x only after mul (its last consumer) ran
    assert kinds.index(("fan", "y")) == kinds.index(("node", "s1")) + 1
    assert kinds.index(("fan", "x")) == kinds.index(("node", "s0")) + 1
    text = dict(((k, n), t) for k, n, t in seen)
    assert "dL/dx = 2.00 + 2.00 + 0.00 + 4.00 = 8.00" in text[("fan", "x")]
    assert "dL/dy = 1.00 + -0.89 = 0.11" in text[("fan", "y")]
    assert "copy gate: adds" in text[("fan", "x")]
    # at the fan step of x, its four edges are highlighted
    i = kinds.index(("fan", "x"))
    browser.key("Home", 36)
    for _ in range(i):
        browser.key("ArrowRight", 39)
    assert {"e_n0_0", "e_n0_1", "e_n1_0", "e_n3_0"} <= set(browser.state()["cur"])
    browser.screenshot(tmp_path / "fan.png")


@needs_dot
@needs_chromium
def test_digits_mlp_stepper_shows_tensor_summaries(tmp_path, browser):
    nn = cr.nn
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).to(cr.float64)
    x, y = cr.randn(16, 64, dtype=cr.float64), cr.randint(0, 10, (16,))
    loss = nn.functional.cross_entropy(model(x), y)
    cr.viz.html(loss, tmp_path / "mlp.html", params=model)
    loss.backward()
    browser.open((tmp_path / "mlp.html").resolve().as_uri())
    texts = []
    for _ in range(len(loss.grad_fn.edges) + 8):
        texts.append(browser.state()["text"])
        browser.key("ArrowRight", 39)
    joined = "\n".join(texts)
    assert "(16, 10) f64" in joined and "→ 2.weight" in joined
    final = browser.state()
    assert final["kind"] == "done"
    for name, p in model.named_parameters():   # the page's gradients are backward's
        assert f"dL/d{name}\t{cr.viz.fmt.summary(p.grad.data)}" in final["text"], name
    browser.screenshot(tmp_path / "mlp.png")


def test_explanation_displays_once_and_still_prints(capsys):
    x, y = _leaf(3.0, "x"), _leaf(4.0, "y")
    e = cr.viz.explain(x * y)
    printed = capsys.readouterr().out
    assert printed == e and isinstance(e, str) and isinstance(e, cr.viz.Explanation)
    assert repr(e) == str(e)               # a prompt shows the text, not a quoted string
    assert "<pre" in e._repr_html_() and "dL/dx = 4.00" in e._repr_html_()
    assert [s["kind"] for s in e.steps] == ["seed", "node"]
    import io
    buf = io.StringIO()
    assert cr.viz.explain(x * y, file=buf) == buf.getvalue()
    assert capsys.readouterr().out == ""   # file= writes there only


def test_explain_at_an_interactive_prompt_does_not_print_twice(capsys, monkeypatch):
    import sys
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    x = _leaf(3.0, "x")
    e = cr.viz.explain(x * x)
    assert capsys.readouterr().out == "" and "dL/dx = 3.00 + 3.00 = 6.00" in e
    print(e)
    assert "dL/dx = 3.00 + 3.00 = 6.00" in capsys.readouterr().out


def test_html_without_dot_says_what_to_install(monkeypatch):
    import sys
    H = sys.modules["chainrule.viz.html"]   # the module; cr.viz.html is the function
    monkeypatch.setattr(H.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs graphviz's 'dot'"):
        cr.viz.html(_neuron())
    assert np.isfinite(_neuron().item())


@needs_dot
def test_cli_writes_the_stepper_and_rules_drawing(tmp_path, capsys):
    out = tmp_path / "q.html"
    assert main(["graph", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "-o", str(out)]) == 0
    assert "press → to step" in capsys.readouterr().out
    page = out.read_text()
    steps = json.loads(page.split('<script id="steps" type="application/json">')[1]
                       .split("</script>")[0])
    assert [s["name"] for s in steps] == ["L", "L", "s0", "done"]
    assert "dL/dz = 3.00" in steps[1]["html"] and "dL/dx = -4.00" in steps[2]["html"]
    dot = tmp_path / "q.dot"
    assert main(["graph", "sigmoid(w*x)", "--at", "w=2,x=-1", "--show", "values+grads+rules",
                 "-o", str(dot)]) == 0
    assert "grad_s0 = g * (1 - L) * L" in dot.read_text()
