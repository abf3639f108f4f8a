"""Regenerate docs/playground.png: `python docs/playground_screenshot.py [OUT.png]`.

Starts the playground on a free port, trains spirals in headless chromium (Start, wait, Pause)
and screenshots the page. Needs chromium (`make system-deps`).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "tests")]

from browser import Browser  # noqa: E402
from chainrule.viz import playground  # noqa: E402


def main(out=os.path.join(HERE, "playground.png"), steps=3000):
    pg = playground.serve(port=0)
    try:
        with Browser(width=1200, height=520) as b:
            b.open(pg.url)
            b.wait_for("window.pg && window.pg.ready")
            b.click("#start")
            b.wait_for(f"window.pg.state.steps >= {steps}", timeout=60)
            b.click("#pause")
            b.wait_for("!window.pg.state.running && "
                       "window.pg.boundarySteps === window.pg.state.steps", timeout=10)
            st = b.eval("window.pg.state")
            b.screenshot(out)
    finally:
        pg.close()
    print(f"wrote {out}  (spirals, {st['steps']} steps, loss {st['first_loss']:.3f} -> "
          f"{st['loss']:.3f}, train accuracy {st['accuracy']:.3f})")


if __name__ == "__main__":
    main(*sys.argv[1:2])
