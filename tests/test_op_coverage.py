"""docs/op_coverage.md is generated from the registry and kept current."""
from chainrule.ops import coverage


def test_coverage_table_is_current_and_lists_every_primitive():
    text = coverage.markdown()
    assert (coverage.ROOT / "docs" / "op_coverage.md").read_text() == text, \
        "docs/op_coverage.md is stale: run python -m chainrule.ops.coverage"
    from chainrule.ops import REGISTRY
    for name in REGISTRY:
        assert f"\n| {name} |" in text
    assert {"inv", "einsum", "matmul"} <= coverage.torch_checked()
