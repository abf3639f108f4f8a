"""The 2-D playground (the lecture's ConvNetJS demo): `python -m chainrule playground`.

A local HTTP server (127.0.0.1 by default) serves one self-contained page. The page picks a data
set, layer sizes, activation, loss, learning rate, L2 strength and batch size; chainrule trains the
MLP in a background thread of the server; the page polls the loss curve, per-layer gradient norms
and a PNG of the decision boundary several times a second. Requests only choose among OPTIONS:
every value is checked against a whitelist or a numeric range, nothing is evaluated, and a bad
value gets a 400 answer with a JSON {"error": ...}.

>>> server = serve(port=0); server.url          # doctest: +SKIP
'http://127.0.0.1:43121/'
"""
from __future__ import annotations

import json
import math
import os
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

DATASETS = ("spirals", "moons", "circles", "blobs", "xor")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "maxout")
LOSSES = ("softmax", "svm")
# name: (type, low, high): the only values a request can set
RANGES = {"lr": (float, 1e-5, 10.0), "l2": (float, 0.0, 1.0), "batch_size": (int, 1, 500),
          "width": (int, 1, 64), "layers": (int, 0, 4)}
DEFAULTS = {"dataset": "spirals", "hidden": [16, 16], "activation": "relu", "loss": "softmax",
            "lr": 0.03, "l2": 1e-4, "batch_size": 16}
OPTIONS = {"dataset": DATASETS, "activation": ACTIVATIONS, "loss": LOSSES}
POINTS = 300        # samples per data set
MAX_STEPS = 200_000  # a forgotten tab stops training here (one core busy, history bounded)
GRID = 96           # the boundary is evaluated on GRID² points, drawn 3× larger
MAX_BODY = 4096
PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]], np.float64)


class BadRequest(ValueError):
    """A request asked for something outside OPTIONS/RANGES: answered with 400."""


def _number(name, value):
    kind, lo, hi = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not float(value).is_integer()):
        raise BadRequest(f"{name} must be {'an integer' if kind is int else 'a number'} in "
                         f"[{lo}, {hi}], got {value!r}")
    value = kind(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise BadRequest(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def validate(body) -> dict:
    """A full config from a request's JSON object: defaults for missing keys, 400 for bad ones."""
    if not isinstance(body, dict):
        raise BadRequest(f"expected a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}; expected "
                         f"{', '.join(DEFAULTS)}")
    cfg = {**DEFAULTS, **body}
    for name, allowed in OPTIONS.items():
        if cfg[name] not in allowed:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {cfg[name]!r}")
    hidden = cfg["hidden"]
    if not isinstance(hidden, list) or len(hidden) > RANGES["layers"][2]:
        raise BadRequest(f"hidden must be a list of at most {RANGES['layers'][2]} layer sizes, "
                         f"got {hidden!r}")
    cfg["hidden"] = [_number("width", h) for h in hidden]
    for name in ("lr", "l2", "batch_size"):
        cfg[name] = _number(name, cfg[name])
    return cfg


def make_model(cfg: dict, classes: int):
    """The MLP of a config: Linear+activation per hidden layer (Maxout replaces both), Linear."""
    from .. import nn
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "leaky_relu": lambda: nn.LeakyReLU(0.1), "elu": nn.ELU}
    layers, width = [], 2
    for h in cfg["hidden"]:
        if cfg["activation"] == "maxout":
            layers.append(nn.Maxout(width, h, pieces=2))
        else:
            layers += [nn.Linear(width, h), acts[cfg["activation"]]()]
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


class Session:
    """The model being trained and its history; a lock guards it (server and trainer threads)."""

    def __init__(self, cfg: dict | None = None, seed: int = 0):
        self.lock = threading.Lock()
        self.running = False
        self.seed = seed
        self.reset(validate(cfg or {}))

    def reset(self, cfg: dict) -> None:
        from .. import data, factories, optim
        X, y = data.DATASETS[cfg["dataset"]](n=POINTS, seed=self.seed)
        x = X.data.astype(np.float64)
        x = (x - x.mean(0)) / x.std(0)            # every set on the same scale
        factories.manual_seed(self.seed)
        with self.lock:
            self.cfg, self.x, self.y = cfg, x.astype(np.float32), y.data
            self.classes = int(self.y.max()) + 1
            self.model = make_model(cfg, self.classes)
            self.opt = optim.SGD(self.model.parameters(), lr=cfg["lr"], momentum=0.9)
            self.rng = np.random.default_rng(self.seed)
            self.steps, self.losses, self.grad_norms, self.update_ratios = 0, [], {}, {}
            self.accuracy = float("nan")

    def step(self, n: int = 1) -> None:
        """n SGD steps on random minibatches: data loss + λ·ΣW² (weights only)."""
        from .. import Tensor
        from ..nn import functional as F
        loss_fn = F.cross_entropy if self.cfg["loss"] == "softmax" else F.multi_margin_loss
        # overflow shows up as a non-finite loss, reported below: no warnings on the terminal
        with self.lock, np.errstate(all="ignore"):
            weights = [p for name, p in self.model.named_parameters() if name.endswith("weight")]
            layers = self._layers()
            for _ in range(n):
                idx = self.rng.choice(len(self.y), size=min(self.cfg["batch_size"], len(self.y)),
                                      replace=False)
                out = loss_fn(self.model(Tensor._make(self.x[idx], False)),
                              Tensor._make(self.y[idx], False))
                if self.cfg["l2"]:
                    out = out + self.cfg["l2"] * F.l2_penalty(weights)
                value = float(out.data)
                if not math.isfinite(value):
                    self.running = False
                    raise FloatingPointError(f"the loss became {value}: lower the learning rate")
                self.opt.zero_grad()
                out.backward()
                before = [[p.data.astype(np.float64) for p in ps] for _, ps in layers]
                self.opt.step()
                self.steps += 1
                self.losses.append(value)
                if self.steps >= MAX_STEPS:
                    self.running = False
                    break
            self._layer_stats(layers, before)

    def _layers(self) -> list:
        """('layer 1 (Linear)', its parameters) for each layer that has parameters."""
        out = []
        for _, mod in self.model.named_children():
            ps = list(mod.parameters())
            if ps:
                out.append((f"layer {len(out) + 1} ({type(mod).__name__})", ps))
        return out

    def _layer_stats(self, layers, before) -> None:
        """Per layer ‖gradient‖ and the last step's update/parameter ratio ‖Δθ‖/‖θ‖ (~1e-3)."""
        def norm(arrays):
            return math.sqrt(sum(float(np.sum(a * a)) for a in arrays))
        self.grad_norms, self.update_ratios = {}, {}
        for (name, ps), old in zip(layers, before):
            self.grad_norms[name] = norm([p.grad.data.astype(np.float64) for p in ps
                                          if p.grad is not None])
            self.update_ratios[name] = norm([p.data - o for p, o in zip(ps, old)]) / max(
                norm(old), 1e-12)

    def predict(self, pts: np.ndarray) -> np.ndarray:
        from .. import Tensor, no_grad
        with self.lock, no_grad():
            return self.model(Tensor._make(pts.astype(np.float32), False)).data

    def state(self) -> dict:
        with self.lock:
            losses = self.losses
            if len(losses) > 400:      # the curve, thinned to ≤ 400 means of equal windows
                k = math.ceil(len(losses) / 400)
                m = len(losses) // k * k
                curve = np.asarray(losses[:m]).reshape(-1, k).mean(1).tolist() + (
                    [float(np.mean(losses[m:]))] if m < len(losses) else [])
            else:
                k, curve = 1, list(losses)
            return {"config": self.cfg, "running": self.running, "steps": self.steps,
                    "loss": losses[-1] if losses else None, "first_loss": losses[0] if losses
                    else None, "curve": curve, "curve_every": k, "grad_norms": self.grad_norms,
                    "update_ratios": self.update_ratios,
                    "accuracy": None if math.isnan(self.accuracy) else self.accuracy,
                    "chance_loss": math.log(self.classes)
                    if self.cfg["loss"] == "softmax" else None}

    def boundary_png(self) -> bytes:
        """The plane coloured by predicted class (paler where less sure), with the data on top."""
        lo, hi = self.x.min(0) - 0.3, self.x.max(0) + 0.3
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(hi[1], lo[1], GRID))
        scores = self.predict(np.stack([gx.ravel(), gy.ravel()], 1)).astype(np.float64)
        p = np.exp(scores - scores.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        cls, conf = p.argmax(1), p.max(1)
        # the training accuracy shown is that of the last drawn boundary (free: no extra steps)
        self.accuracy = float(np.mean(self.predict(self.x).argmax(1) == self.y))
        strength = (0.25 + 0.45 * (conf - 1 / self.classes) * self.classes / max(
            self.classes - 1, 1))[:, None]
        img = (255 * (1 - strength) + PALETTE[cls % len(PALETTE)] * strength).reshape(GRID, GRID, 3)
        img = np.repeat(np.repeat(img, 3, 0), 3, 1)
        size = GRID * 3
        px = ((self.x[:, 0] - lo[0]) / (hi[0] - lo[0]) * (size - 1)).round().astype(int)
        py = ((hi[1] - self.x[:, 1]) / (hi[1] - lo[1]) * (size - 1)).round().astype(int)
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                r2 = dx * dx + dy * dy
                if r2 > 10:
                    continue
                yy, xx = np.clip(py + dy, 0, size - 1), np.clip(px + dx, 0, size - 1)
                img[yy, xx] = 30 if r2 > 5 else PALETTE[self.y % len(PALETTE)]
        return png(img.astype(np.uint8))


def png(rgb: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 array as PNG with NumPy and zlib only."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], 1).tobytes()

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class Trainer(threading.Thread):
    """Runs Session.step in bursts of ~30 ms while the session is running."""

    def __init__(self, session: Session):
        super().__init__(daemon=True, name="chainrule-playground-trainer")
        self.session, self.stop, self.wake = session, threading.Event(), threading.Event()
        self.error = None

    def run(self):
        s = self.session
        while not self.stop.is_set():
            if not s.running:
                self.wake.wait(0.2)
                self.wake.clear()
                continue
            t0 = time.perf_counter()
            try:
                while s.running and time.perf_counter() - t0 < 0.03:
                    s.step(1)
            except FloatingPointError as e:
                self.error = str(e)
            time.sleep(0.005)    # let the request threads in


def page() -> bytes:
    with open(os.path.join(os.path.dirname(__file__), "static", "playground.html"), "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    server_version = "chainrule-playground"

    def log_message(self, fmt, *args):   # quiet: the terminal shows only the URL
        pass

    def _send(self, code, body: bytes, ctype: str):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, code=200):
        self._send(code, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _host_ok(self) -> bool:
        # DNS rebinding: on a loopback address, answer only requests addressed to a local name
        bound = self.server.server_address[0]
        if not (bound.startswith("127.") or bound in ("::1", "localhost")):
            return True   # bound to a network address on purpose (--host): any name may reach it
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in ("127.0.0.1", "localhost", "::1", bound)

    def do_GET(self):
        if not self._host_ok():
            return self._json({"error": "unexpected Host header"}, 403)
        path = self.path.split("?", 1)[0]
        app = self.server.app
        if path in ("/", "/index.html"):
            return self._send(200, page(), "text/html; charset=utf-8")
        if path == "/api/options":
            return self._json({"choices": OPTIONS, "ranges": {k: v[1:] for k, v in RANGES.items()},
                               "defaults": DEFAULTS})
        if path == "/api/state":
            st = app.session.state()
            st["error"] = app.trainer.error
            return self._json(st)
        if path == "/api/boundary.png":
            return self._send(200, app.session.boundary_png(), "image/png")
        return self._json({"error": f"no such page {path!r}"}, 404)

    def do_POST(self):
        if not self._host_ok():
            return self._json({"error": "unexpected Host header"}, 403)
        path, app = self.path.split("?", 1)[0], self.server.app
        try:
            body = self._body()
            if path == "/api/config":
                cfg = validate(body)
                app.session.running = False
                app.session.reset(cfg)
                app.trainer.error = None
            elif path in ("/api/start", "/api/pause", "/api/step"):
                if body not in ({}, None) and not (path == "/api/step" and isinstance(body, dict)
                                                   and set(body) <= {"n"}):
                    raise BadRequest(f"{path} takes no fields except 'n' for /api/step")
                if path == "/api/start":
                    app.session.running = True
                    app.trainer.wake.set()
                elif path == "/api/pause":
                    app.session.running = False
                else:
                    n = (body or {}).get("n", 1)
                    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                        raise BadRequest(f"n must be an integer in [1, 1000], got {n!r}")
                    app.session.running = False
                    app.session.step(n)
            else:
                return self._json({"error": f"no such action {path!r}"}, 404)
        except BadRequest as e:
            return self._json({"error": str(e)}, 400)
        except FloatingPointError as e:
            return self._json({"error": str(e)}, 409)
        return self._json(app.session.state())

    def _body(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if length > MAX_BODY:
            raise BadRequest(f"request body too large ({length} bytes; at most {MAX_BODY})")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        if ctype != "application/json":   # also keeps other sites' plain form posts out
            raise BadRequest(f"expected Content-Type application/json, got {ctype!r}")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadRequest(f"body is not valid JSON: {e}") from None


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Playground:
    """A running server: .url, .session, .trainer; close() stops it."""

    def __init__(self, host="127.0.0.1", port=8000, cfg=None):
        self.session = Session(cfg)
        self.trainer = Trainer(self.session)
        server = _Server6 if ":" in host else ThreadingHTTPServer
        self.httpd = server((host, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        h, p = self.httpd.server_address[:2]
        self.url = f"http://{'[' + h + ']' if ':' in h else h}:{p}/"
        self.trainer.start()

    def serve_forever(self):
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self):
        self.session.running = False
        self.trainer.stop.set()
        self.trainer.wake.set()
        if getattr(self, "_thread", None) is not None:   # serve() runs it in a thread
            self.httpd.shutdown()
        self.httpd.server_close()
        self.trainer.join(timeout=2)


def serve(host="127.0.0.1", port=0, cfg=None) -> Playground:
    """Start a playground in a background thread (for notebooks and tests); returns it running.

    >>> pg = serve(port=0); print(pg.url); ...; pg.close()      # doctest: +SKIP
    """
    pg = Playground(host, port, cfg)
    pg._thread = threading.Thread(target=pg.serve_forever, daemon=True)
    pg._thread.start()
    return pg


def main(host="127.0.0.1", port=8000) -> int:
    """Serve until Ctrl-C (or SIGTERM), then stop cleanly without a traceback."""
    import signal
    try:
        pg = Playground(host, port)
    except OSError as e:
        print(f"error: playground: cannot listen on {host}:{port}: {e.strerror or e}",
              file=sys.stderr)
        return 1

    def _term(*_):
        raise KeyboardInterrupt
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _term)
        # started with `&` by a shell, SIGINT arrives ignored: Ctrl-C must still stop us
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"chainrule playground: open {pg.url}  (Ctrl-C stops)", flush=True)
    try:
        pg.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        pg.close()
    print("playground stopped", flush=True)
    return 0


def add_commands(subparsers) -> None:
    """The `playground` sub-command."""
    p = subparsers.add_parser("playground", help="train a 2-D classifier live in the browser",
                              description="Serve the 2-D playground (ConvNetJS-style) on a local "
                                          "port: pick data, layers, activation, loss, learning "
                                          "rate, L2 and batch size; watch the decision boundary, "
                                          "loss and gradient norms while chainrule trains.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.set_defaults(func=lambda args: main(args.host, args.port))
