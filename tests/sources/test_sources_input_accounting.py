"""No input is lost or miscounted: array-vs-JSONL by the whole file, BOMs, bytes that are not UTF-8, damaged
gzip, strict `tests` lists, ids that do not depend on the spelling of the path, the source's own record id,
and directory inputs that skip the tool's own output. Through the documented reader API, `read_source`."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest

from codesft.sources import InputError, ReadError, check_inputs, read_source


def _rec(i: int) -> str:
    return json.dumps({"id": f"q{i}", "problem": f"Return {i}.", "solution": f"def f{i}():\n    return {i}\n",
                       "tests": f"assert f{i}() == {i}"})


def _read(spec: str) -> tuple[list, list[ReadError]]:
    recs = list(read_source(spec))
    return [r for r in recs if not isinstance(r, ReadError)], [r for r in recs if isinstance(r, ReadError)]


def test_a_stray_array_line_is_one_rejection_and_the_jsonl_records_are_kept(tmp_path: Path):
    p = tmp_path / "stray.jsonl"
    p.write_text('["stray"]\n' + "\n".join(_rec(i) for i in range(3)) + "\n")
    samples, errors = _read(f"eval_questions:{p}")
    assert [s.provenance.line for s in samples] == [2, 3, 4]
    assert [(e.file, e.line) for e in errors] == [(str(p), 1)] and "got list" in errors[0].reason


def test_a_json_array_with_a_bom_is_one_array_with_physical_lines(tmp_path: Path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf[\n  " + ",\n  ".join(_rec(i) for i in range(3)).encode() + b"\n]\n")
    samples, errors = _read(f"eval_questions:{p}")
    assert errors == [] and [s.provenance.line for s in samples] == [2, 3, 4]


def test_a_bom_on_jsonl_does_not_reject_line_one(tmp_path: Path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + "\n".join(_rec(i) for i in range(3)).encode() + b"\n")
    samples, errors = _read(f"eval_questions:{p}")
    assert errors == [] and [s.provenance.line for s in samples] == [1, 2, 3]


def test_bytes_that_are_not_utf8_reject_their_line_with_the_byte_offset(tmp_path: Path):
    bad = _rec(1).encode().replace(b"Return 1", b"Return \xff1")
    p = tmp_path / "bad.jsonl"
    p.write_bytes(_rec(0).encode() + b"\n" + bad + b"\n" + _rec(2).encode() + b"\n")
    samples, errors = _read(f"eval_questions:{p}")
    assert [s.provenance.line for s in samples] == [1, 3]
    offset = len(_rec(0)) + 1 + bad.index(b"\xff")
    assert [e.line for e in errors] == [2] and f"invalid UTF-8 at byte {offset} " in errors[0].reason
    arr = tmp_path / "bad.json"  # the same inside a JSON array: only the element holding the byte goes
    arr.write_bytes(b"[" + _rec(0).encode() + b",\n" + bad + b",\n" + _rec(2).encode() + b"]\n")
    samples, errors = _read(f"eval_questions:{arr}")
    assert [s.provenance.line for s in samples] == [1, 3] and [e.line for e in errors] == [2]
    assert "invalid UTF-8" in errors[0].reason
    # A \u escape that leaves a lone surrogate cannot be written as UTF-8 either: rejected, not a crash later.
    esc = tmp_path / "surrogate.jsonl"
    esc.write_text(_rec(0) + "\n" + _rec(1).replace("Return 1", "Return \\ud800") + "\n")
    samples, errors = _read(f"eval_questions:{esc}")
    assert len(samples) == 1 and [e.line for e in errors] == [2] and "surrogate" in errors[0].reason


def test_a_damaged_gzip_keeps_the_lines_before_the_damage_and_names_the_line(tmp_path: Path):
    data = gzip.compress(("\n".join(_rec(i) for i in range(60)) + "\n").encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    samples, errors = _read(f"eval_questions:{cut}")
    assert 0 < len(samples) < 60 and [s.provenance.line for s in samples] == list(range(1, len(samples) + 1))
    assert len(errors) == 1 and errors[0].line == len(samples) + 1 and errors[0].file == str(cut)
    assert "damaged gzip" in errors[0].reason and f"{len(samples)} line(s) before the damage are kept" in errors[0].reason
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_text(_rec(0) + "\n")
    samples, errors = _read(f"eval_questions:{plain}")
    assert samples == [] and [(e.line, e.reason) for e in errors] == [(1, "not a gzip file (no gzip header)")]


@pytest.mark.parametrize("kind,record", [
    ("eval_questions", {"problem": "p", "solution": "def f():\n    return 1\n", "tests": ["assert f() == 1", 5, None]}),
    ("code_reviews", {"code": "def f():\n    return 2\n", "comments": ["wrong"], "fixed_code": "def f():\n    return 1\n",
                      "tests": ["assert f() == 1", 5]}),
])
def test_tests_must_be_strings(tmp_path: Path, kind: str, record: dict):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(record) + "\n")
    samples, errors = _read(f"{kind}:{p}")
    assert samples == [] and len(errors) == 1 and errors[0].line == 1
    assert "field 'tests' must be a string or a list of strings (item 1 is int" in errors[0].reason


def test_ids_do_not_depend_on_how_the_path_is_spelled(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "q.jsonl").write_text("\n".join(_rec(i) for i in range(3)) + "\n")
    monkeypatch.chdir(tmp_path)
    spellings = ["data", "./data/", str(data), str(tmp_path / "data" / "sub" / "..")]
    ids = {sp: [s.sample_id for s in _read(f"eval_questions:{sp}")[0]] for sp in spellings}
    assert len(ids["data"]) == 3 and all(v == ids["data"] for v in ids.values())
    # A file named directly gets the ids it gets when read through its directory.
    monkeypatch.chdir(data)
    direct = [s.sample_id for s in _read("eval_questions:sub/q.jsonl")[0]]
    via_dir = [s.sample_id for s in _read(f"eval_questions:{data / 'sub'}")[0]]
    assert direct == via_dir == [s.sample_id for s in _read(f"eval_questions:{data / 'sub' / 'q.jsonl'}")[0]]


def test_git_ids_do_not_depend_on_how_the_path_is_spelled(tmp_path: Path, monkeypatch):
    repo = _make_repo(tmp_path)
    _git(repo, "bundle", "create", str(tmp_path / "repo.bundle"), "--all")
    monkeypatch.chdir(tmp_path)
    relative = [s.sample_id for s in _read("git:repo")[0]]
    assert len(relative) == 1 and relative == [s.sample_id for s in _read(f"git:{repo}")[0]]
    # The same commits from a bundle file: the id depends on the commit and the file, not on the container.
    assert relative == [s.sample_id for s in _read("git:repo.bundle")[0]]


def test_provenance_keeps_the_sources_own_record_id(tmp_path: Path):
    he = tmp_path / "he.jsonl"
    he.write_text(json.dumps({"task_id": "HumanEval/7", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
                              "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}) + "\n"
                  + json.dumps({"task_id": 11, "text": "t", "code": "def g():\n    return 1\n",
                                "test_list": ["assert g() == 1"]}) + "\n")
    review = tmp_path / "r.jsonl"
    review.write_text(json.dumps({"review_id": "PR-42#3", "code": "x = 1\n", "comments": "c", "fixed_code": "x = 2\n"}) + "\n")
    chat = tmp_path / "c.jsonl"
    chat.write_text(json.dumps({"id": "chat-9", "messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    got = {spec: [(s.provenance.record_id, s.provenance.source_path, s.provenance.line) for s in _read(spec)[0]]
           for spec in (f"eval_questions:{he}", f"code_reviews:{review}", f"chats:{chat}")}
    assert got == {f"eval_questions:{he}": [("HumanEval/7", str(he), 1), ("11", str(he), 2)],
                   f"code_reviews:{review}": [("PR-42#3", str(review), 1)], f"chats:{chat}": [("chat-9", str(chat), 1)]}
    commits, _ = _read(f"git:{_make_repo(tmp_path)}")
    assert len(commits) == 1 and commits[0].provenance.record_id == commits[0].provenance.patch_ref.split(":")[0]


def test_a_directory_input_skips_the_tools_own_output(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "q.jsonl").write_text(_rec(0) + "\n")
    work = data / "bundles" / "ex" / ".work-v1.0.0"
    work.mkdir(parents=True)
    (work / "state.json").write_text('{"fingerprint": "x", "done": {}}')
    (work / "records.jsonl").write_text(_rec(1) + "\n")
    old = data / "bundles" / "ex" / "v0.9.0"
    (old / "openai_chat").mkdir(parents=True)
    (old / "manifest.json").write_text("{}")
    (old / "samples.jsonl").write_text(_rec(2) + "\n")
    (old / "openai_chat" / "train.jsonl").write_text(_rec(3) + "\n")
    (data / "more").mkdir()
    (data / "more" / "samples.jsonl").write_text(_rec(4) + "\n")  # samples.jsonl without a manifest: still read
    samples, errors = _read(f"eval_questions:{data}")
    assert errors == [] and sorted(s.provenance.record_id for s in samples) == ["q0", "q4"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@e"})


def _make_repo(tmp_path: Path) -> Path:
    """A repository with an MIT license whose second commit is one an instruction sample is made of."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "LICENSE").write_text("Permission is hereby granted, free of charge")
    (repo / "pkg" / "a.py").write_text("def a():\n    return 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "Add the package")
    (repo / "pkg" / "a.py").write_text("def a():\n    return 2\n")
    _git(repo, "commit", "-qam", "Fix the return value")
    return repo


def test_a_directory_inside_a_repository_is_not_read_as_that_repository(tmp_path: Path):
    repo = _make_repo(tmp_path)
    samples, errors = _read(f"git:{repo}")
    assert len(samples) == 1
    samples, errors = _read(f"git:{repo / 'pkg'}")
    assert samples == [] and len(errors) == 1 and "is inside the git repository at" in errors[0].reason
    with pytest.raises(InputError, match="not its root"):
        check_inputs([f"git:{repo / 'pkg'}"])
    check_inputs([f"git:{repo}"])  # the root itself is fine
