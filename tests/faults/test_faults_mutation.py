import ast

import pytest

from codesft.faults.mutation import OPERATORS, all_mutations, mutate

CODE = '''def f(xs, n):
    """Sum the small ones."""
    total = 0  # running sum
    for i in range(len(xs)):
        if xs[i] < n and xs[i] != 0:
            total += xs[i] * 2
        else:
            total -= 1
    head = xs[1:n]
    ok = not head
    while ok:
        ok = False
    return max(total, len(head)) if head else total == 0
'''


def test_every_operator_class_fires_and_every_variant_is_valid_python():
    variants = all_mutations(CODE)
    assert {v.operator for v in variants} == set(OPERATORS)
    for v in variants:
        ast.parse(v.code)
        assert v.code != CODE
    assert len({v.code for v in variants}) == len(variants)


@pytest.mark.parametrize("operator,needle", [
    ("compare_swap", "xs[i] <= n"),
    ("boolean_swap", "xs[i] < n or xs[i]"),
    ("arithmetic_swap", "total -= xs[i] * 2"),
    ("off_by_one", "range(len(xs) + 1)"),
    ("off_by_one", "xs[2:n]"),
    ("off_by_one", "xs[i - 1]"),
    ("constant_change", "total = 1  # running sum"),
    ("negate_condition", "if not (xs[i] < n and xs[i] != 0):"),
    ("swap_arguments", "max(len(head), total)"),
    ("drop_condition", "            total += xs[i] * 2\n    head"),
])
def test_operator_examples(operator, needle):
    assert any(needle in v.code for v in all_mutations(CODE) if v.operator == operator), needle


def test_edits_are_minimal_and_keep_comments():
    for v in all_mutations(CODE):
        assert "# running sum" in v.code or v.operator == "remove_statement"
    # A comparison swap changes exactly one character.
    v = next(v for v in all_mutations(CODE) if v.operator == "compare_swap" and "<=" in v.code)
    assert len(v.code) == len(CODE) + 1


def test_mutate_is_deterministic_and_spreads_over_operators():
    a = mutate(CODE, k=4, seed=7, key="s1")
    b = mutate(CODE, k=4, seed=7, key="s1")
    assert [v.code for v in a] == [v.code for v in b]
    assert len({v.operator for v in a}) == 4
    assert [v.code for v in mutate(CODE, k=4, seed=8, key="s1")] != [v.code for v in a]


def test_unparsable_or_trivial_code_gives_no_variants():
    assert all_mutations("def f(:\n") == []
    assert all_mutations("pass\n") == []


def test_non_ascii_source_positions():
    code = 'def f(s):\n    return s == "héllo" and len(s) > 2\n'
    variants = all_mutations(code)
    assert any('len(s) >= 2' in v.code for v in variants)
    assert any('s != "héllo"' in v.code for v in variants)
