"""A tiny headless-chromium driver for tests: the DevTools protocol over --remote-debugging-pipe.

Standard library only (no websocket, no selenium): chromium reads NUL-terminated JSON commands
from fd 3 and writes answers and events to fd 4.

    from browser import Browser, chromium_or_skip      # tests/ is on sys.path under pytest
    with Browser(chromium_or_skip()) as b:
        b.open("http://127.0.0.1:8000/")
        b.click("#start")
        b.wait_for("window.pg.state && window.pg.state.steps > 100")
        b.screenshot(tmp_path / "page.png")
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe")


def find_chromium() -> str | None:
    """Path of a chromium/chrome executable on PATH ($CHROMIUM overrides), or None."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_or_skip() -> str:
    """The chromium path, or pytest.skip with the reason (`make system-deps` installs it)."""
    import pytest
    path = find_chromium()
    if path is None:
        pytest.skip("no chromium on PATH: `make system-deps` installs Debian's chromium package "
                    "(apt-get install chromium); set $CHROMIUM to use another build")
    return path


class BrowserError(RuntimeError):
    """A DevTools command failed, a page script threw, or a wait timed out."""


class Browser:
    """One headless chromium with one page, driven over the DevTools pipe.

    open(url)                      navigate and wait for the load to complete
    eval(js)                       value of a JS expression (promises awaited, returned by value)
    wait_for(js, timeout)          poll js until truthy; returns its value, else BrowserError
    click(selector)                element.click() on the first match (BrowserError if none)
    press(key)                     a key press to the page, e.g. "ArrowRight", "Enter", "a"
    screenshot(path)               PNG of the viewport; returns the path
    console                        list of console messages / uncaught exceptions seen so far
    close()                        quit chromium and remove its profile (also on `with` exit)
    """

    def __init__(self, executable: str | None = None, width: int = 1200, height: int = 800,
                 timeout: float = 30.0):
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError("no chromium found (apt-get install chromium)")
        self.timeout = timeout
        self.console: list = []
        self._profile = tempfile.mkdtemp(prefix="chainrule-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def child_fds():   # chromium wants the pipe ends exactly at fds 3 (in) and 4 (out)
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [executable, *FLAGS, f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}", "about:blank"]
        self._log = open(os.path.join(self._profile, "chromium-stderr.log"), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log, pass_fds=(3, 4), preexec_fn=child_fds)
        os.close(cmd_r)
        os.close(out_w)
        self._next, self._answers, self._cv = 0, {}, threading.Condition()
        self._events: list = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._session = None
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next((t for t in targets if t["type"] == "page"), None)
            target = page["targetId"] if page else self.send(
                "Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target,
                                      flatten=True)["sessionId"]
            for domain in ("Page.enable", "Runtime.enable"):
                self.send(domain)
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BrowserError as e:
            tail = self.stderr_tail()
            self.close()
            raise BrowserError(f"{e}; chromium's stderr ends with: {tail}") from None
        except Exception:
            self.close()
            raise

    def stderr_tail(self, lines: int = 5) -> str:
        """The last lines chromium wrote to stderr (why it would not start, crashes)."""
        try:
            with open(os.path.join(self._profile, "chromium-stderr.log"), "rb") as f:
                return " | ".join(f.read().decode(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------ protocol
    def _read(self):
        buf = b""
        with os.fdopen(self._out_r, "rb", buffering=0) as f:
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    with self._cv:
                        if "id" in msg:
                            self._answers[msg["id"]] = msg
                        else:
                            self._event(msg)
                        self._cv.notify_all()
        with self._cv:
            self._answers[None] = {"error": {"message": "chromium closed the pipe"}}
            self._cv.notify_all()

    def _event(self, msg):
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                         for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            self.console.append("uncaught: " + p["exceptionDetails"].get("exception", {}).get(
                "description", p["exceptionDetails"].get("text", "")))
        self._events.append(method)

    def send(self, method: str, **params):
        """Send one DevTools command (to the page once attached) and return its result."""
        with self._cv:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params}
        if self._session and not method.startswith("Target."):
            msg["sessionId"] = self._session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except OSError:
            time.sleep(0.2)
            raise BrowserError(f"{method}: chromium is not running (exit code "
                               f"{self.proc.poll()})") from None
        deadline = time.monotonic() + self.timeout
        with self._cv:
            while mid not in self._answers and None not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{method}: no answer from chromium in {self.timeout} s")
                self._cv.wait(left)
            answer = self._answers.pop(mid, None) or self._answers[None]
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    # ------------------------------------------------------------------ page
    def open(self, url: str, timeout: float | None = None) -> None:
        res = self.send("Page.navigate", url=url)
        if res.get("errorText"):
            raise BrowserError(f"open {url}: {res['errorText']}")
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'",
                      timeout or self.timeout)

    def eval(self, expression: str):
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise BrowserError(f"eval {expression!r}: "
                               f"{d.get('exception', {}).get('description', d.get('text'))}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0, interval: float = 0.05):
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"wait_for {expression!r}: still {value!r} after {timeout} s"
                                   + (f"; console: {self.console[-5:]}" if self.console else ""))
            time.sleep(interval)

    def click(self, selector: str) -> None:
        ok = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                       f"if (!e) return false; e.click(); return true; }})()")
        if not ok:
            raise BrowserError(f"click: no element matches {selector!r}")

    def press(self, key: str) -> None:
        codes = {"ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40, "Enter": 13,
                 "Escape": 27, " ": 32, "Home": 36, "End": 35}
        code = codes.get(key, ord(key.upper()) if len(key) == 1 else 0)
        base = {"key": key, "code": key if len(key) > 1 else f"Key{key.upper()}",
                "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
        self.send("Input.dispatchKeyEvent", type="keyDown", **base,
                  **({"text": key} if len(key) == 1 else {}))
        self.send("Input.dispatchKeyEvent", type="keyUp", **base)

    def screenshot(self, path) -> str:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return str(path)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode()
                         + b"\0")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        try:
            os.close(self._cmd_w)
        except OSError:
            pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
