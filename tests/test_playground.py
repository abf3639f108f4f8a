"""The 2-D playground: request validation, training in the server, PNG boundary, CLI, browser."""
import json
import os
import signal
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest

from chainrule.viz import playground as pgm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def server():
    pg = pgm.serve(port=0)
    yield pg
    pg.close()


def call(pg, path, body=None, raw=None, ctype="application/json", host=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(pg.url.rstrip("/") + path, data=data,
                                 method="GET" if data is None else "POST")
    if data is not None:
        req.add_header("Content-Type", ctype)
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            payload = r.read()
            return r.status, (json.loads(payload) if r.headers["Content-Type"] ==
                              "application/json" else payload)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("body, words", [
    ({"dataset": "mnist"}, "dataset must be one of spirals, moons, circles, blobs, xor"),
    ({"activation": "__import__('os')"}, "activation must be one of"),
    ({"lr": "0.1"}, "lr must be a number"),
    ({"lr": 1e9}, "lr must be in"),
    ({"lr": float("nan")}, "lr must be in"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"batch_size": True}, "batch_size must be an integer"),
    ({"hidden": [16, 0]}, "width must be in"),
    ({"hidden": "16,16"}, "hidden must be a list"),
    ({"hidden": [4, 4, 4, 4, 4]}, "at most 4"),
    ({"code": "print(1)"}, "unknown field(s) 'code'"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_values_get_a_clear_400(server, body, words):
    before = call(server, "/api/state")[1]["config"]
    code, answer = call(server, "/api/config", body)
    assert code == 400 and words in answer["error"], answer
    assert call(server, "/api/state")[1]["config"] == before      # nothing changed


def test_bad_requests_of_other_kinds(server):
    assert call(server, "/api/config", raw=b"{oops")[0] == 400
    code, a = call(server, "/api/config", raw=b'{"lr": 0.1}', ctype="text/plain")
    assert code == 400 and "application/json" in a["error"]
    code, a = call(server, "/api/config", raw=b"[" * (pgm.MAX_BODY + 1))
    assert code == 400 and "too large" in a["error"]
    assert call(server, "/api/step", {"n": 0})[0] == 400
    assert call(server, "/api/step", {"n": "5"})[0] == 400
    assert call(server, "/api/start", {"go": 1})[0] == 400
    assert call(server, "/etc/passwd")[0] == 404
    assert call(server, "/api/shutdown", {})[0] == 404
    assert call(server, "/api/state", host="evil.example")[0] == 403
    import http.client
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/config")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "lots")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 400 and "Content-Length" in json.loads(r.read())["error"]
    conn.close()


def test_training_in_the_server_lowers_the_loss_and_changes_the_boundary(server):
    code, st = call(server, "/api/config", {"dataset": "xor", "hidden": [8], "lr": 0.05,
                                            "batch_size": 32})
    assert code == 200 and st["steps"] == 0 and st["config"]["dataset"] == "xor"
    png0 = call(server, "/api/boundary.png")[1]
    code, st = call(server, "/api/step", {"n": 1})
    first = st["first_loss"]
    assert st["steps"] == 1 and abs(first - np.log(2)) < 0.3     # first loss near chance ln 2
    assert set(st["grad_norms"]) == set(st["update_ratios"]) == {"layer 1 (Linear)",
                                                                  "layer 2 (Linear)"}
    # the first SGD step (no momentum yet) moved layer 1's weight and bias by lr·grad
    ps = list(server.session.model[0].parameters())
    step = np.concatenate([0.05 * p.grad.data.ravel().astype(np.float64) for p in ps])
    before = np.concatenate([p.data.ravel().astype(np.float64) for p in ps]) + step
    assert st["update_ratios"]["layer 1 (Linear)"] == pytest.approx(
        np.linalg.norm(step) / np.linalg.norm(before), rel=1e-3)
    st = call(server, "/api/step", {"n": 400})[1]
    assert st["steps"] == 401 and len(st["curve"]) <= 401
    assert np.mean(st["curve"][-50:]) < 0.6 * first
    png1 = call(server, "/api/boundary.png")[1]
    assert png1 != png0
    img = decode_png(png1)
    assert img.shape == (pgm.GRID * 3, pgm.GRID * 3, 3)
    assert call(server, "/api/state")[1]["accuracy"] > 0.85


def test_a_diverging_run_stops_with_a_message(server):
    call(server, "/api/config", {"lr": 10.0, "hidden": [64, 64, 64], "batch_size": 1,
                                 "loss": "svm"})
    code, answer = call(server, "/api/step", {"n": 1000})
    assert code == 409 and "lower the learning rate" in answer["error"]
    st = call(server, "/api/state")[1]
    assert 0 < st["steps"] < 1000 and not st["running"]


@pytest.mark.parametrize("activation", pgm.ACTIVATIONS)
@pytest.mark.parametrize("loss", pgm.LOSSES)
def test_every_activation_and_loss_trains(activation, loss):
    s = pgm.Session({"dataset": "moons", "hidden": [8, 8], "activation": activation, "loss": loss,
                     "lr": 0.05, "batch_size": 32})
    s.step(150)
    assert np.mean(s.losses[-20:]) < 0.8 * s.losses[0]
    assert len(s.grad_norms) == 3 and all(v > 0 for v in s.grad_norms.values())


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(tag + body)
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + n
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def test_png_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(pgm.png(img)), img)


def test_cli_prints_the_url_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("open ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"chainrule playground" in r.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in out, err


# ---------------------------------------------------------------- in a real browser

BOUNDARY_HASH = """(() => { const i = document.getElementById('boundary');
  const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
  const x = c.getContext('2d'); x.drawImage(i, 0, 0);
  const d = x.getImageData(0, 0, c.width, c.height).data; let h = 0;
  for (let k = 0; k < d.length; k += 3) h = (h * 31 + d[k]) >>> 0; return [c.width, h]; })()"""


def test_playground_in_headless_chromium(server, tmp_path):
    from browser import Browser, chromium_or_skip
    with Browser(chromium_or_skip()) as b:
        b.open(server.url)
        b.wait_for("window.pg && window.pg.ready && window.pg.boundaryLoads >= 1")
        width, before = b.eval(BOUNDARY_HASH)
        assert width == pgm.GRID * 3
        assert b.eval("document.getElementById('dataset').options.length") == len(pgm.DATASETS)
        b.click("#start")
        b.wait_for("window.pg.state.running && window.pg.state.steps > 300", timeout=20)
        b.click("#pause")
        b.wait_for("!window.pg.state.running")
        st = b.wait_for("window.pg.boundarySteps === window.pg.state.steps && window.pg.state",
                        timeout=10)
        assert np.mean(st["curve"][-10:]) < 0.7 * st["first_loss"]
        assert b.eval(BOUNDARY_HASH)[1] != before
        assert "paused" in b.eval("document.getElementById('status').textContent")
        shot = b.screenshot(tmp_path / "playground.png")
        head = open(shot, "rb").read(24)
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1200, 800)
        # a bad value typed in the page comes back as the server's 400 message
        b.eval("document.getElementById('lr').value = '50'")
        b.click("#apply")
        b.wait_for("document.getElementById('error').textContent.includes('lr must be in')")
        assert not [m for m in b.console if m.startswith("uncaught")], b.console


def test_browser_helper_keys_clicks_errors_and_file_urls(tmp_path):
    from browser import Browser, BrowserError, chromium_or_skip
    page = tmp_path / "keys.html"
    page.write_text("<!DOCTYPE html><button id=b onclick='window.clicks++'>b</button><script>"
                    "window.keys = []; window.clicks = 0; document.addEventListener('keydown', "
                    "e => window.keys.push(e.key)); console.log('ready');</script>")
    with Browser(chromium_or_skip()) as b:
        b.open(page.as_uri())                       # works from file://, as the stepper must
        for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "a"):
            b.press(key)
        assert b.eval("window.keys") == ["ArrowRight", "ArrowRight", "ArrowLeft", "a"]
        b.click("#b")
        assert b.eval("window.clicks") == 1 and b.eval("Promise.resolve(6 * 7)") == 42
        with pytest.raises(BrowserError, match="no element matches"):
            b.click("#missing")
        with pytest.raises(BrowserError, match="boom"):
            b.eval("(() => { throw new Error('boom'); })()")
        with pytest.raises(BrowserError, match="still False after 0.2 s"):
            b.wait_for("false", timeout=0.2)
        assert "ready" in b.console


def test_a_busy_port_is_a_one_line_error(server, capsys):
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    assert pgm.main(port=port) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: playground: cannot listen on 127.0.0.1:") and "\n" not in err
