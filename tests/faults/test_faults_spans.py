import json

from typer.testing import CliRunner

from codesft.faults.spans import diff_spans, line_spans, token_spans


def _texts(code, spans):
    return [code[s.start:s.end] for s in spans]


def test_comparison_swap_marks_the_changed_line_and_characters():
    correct = "def f(n):\n    return n < 3\n"
    incorrect = "def f(n):\n    return n <= 3\n"
    c, w = diff_spans(correct, incorrect)
    assert _texts(correct, c.line) == ["    return n < 3\n"]
    assert _texts(incorrect, w.line) == ["    return n <= 3\n"]
    # Pure insertion of "=": the incorrect side marks "=", the correct side the character at the insertion point.
    assert _texts(incorrect, w.token) == ["="]
    assert [(s.start, s.end) for s in c.token] == [(24, 25)]


def test_replacement_marks_both_sides():
    c, w = token_spans("x = a[i]\n", "x = a[j]\n")
    assert [(s.start, s.end) for s in c] == [(6, 7)] and [(s.start, s.end) for s in w] == [(6, 7)]


def test_deleted_line_is_marked_only_in_the_correct_code():
    correct = "a = 1\nif a:\n    a = 0\nreturn a\n"
    incorrect = "a = 1\nreturn a\n"
    lc, lw = line_spans(correct, incorrect)
    assert _texts(correct, lc) == ["if a:\n    a = 0\n"]
    assert lw == []
    tc, tw = token_spans(correct, incorrect)
    assert "".join(_texts(correct, tc)) == "if a:\n    a = 0\n"
    assert len(tw) == 1 and tw[0].end - tw[0].start == 1  # the insertion point


def test_adjacent_edits_are_merged_and_identical_codes_have_no_spans():
    c, w = token_spans("return x + y", "return y - x")
    assert all(a.end < b.start for a, b in zip(c, c[1:]))
    same_c, same_w = diff_spans("x = 1\n", "x = 1\n")
    assert same_c.line == same_c.token == same_w.line == same_w.token == []


def test_edit_at_the_end_of_the_code():
    c, w = token_spans("return a", "return ab")
    assert _texts("return ab", w) == ["b"]
    assert _texts("return a", c) == ["a"]  # insertion at the end: the last character stands in


def test_faults_diff_cli_prints_spans(tmp_path):
    from codesft.cli import app

    (tmp_path / "c.py").write_text("def f(n):\n    return n < 3\n")
    (tmp_path / "w.py").write_text("def f(n):\n    return n <= 3\n")
    result = CliRunner().invoke(app, ["faults", "diff", str(tmp_path / "c.py"), str(tmp_path / "w.py")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["incorrect"]["token"] == [{"start": 24, "end": 25, "text": "="}]
    assert data["correct"]["line"][0]["text"] == "    return n < 3\n"
