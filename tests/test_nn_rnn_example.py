"""examples/sequence_reverse.py, shortened: a transformer learns to reverse 4-digit strings."""
import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sequence_reverse.py"


def test_sequence_reverse_example_learns_a_short_version(capsys):
    spec = importlib.util.spec_from_file_location("sequence_reverse", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    acc = mod.main(["--steps", "60", "--length", "4", "--batch-size", "32"])
    assert acc >= 0.95   # chance is 1e-4; the full run (300 steps, 8 digits) reaches 1.0
    assert "sequence accuracy on 2000 new strings of 4 digits" in capsys.readouterr().out
