"""`codesft review apply` end to end: the next version reflects every decision, the rest is byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from codesft.cli import app
from codesft.bundle import load_bundle
from codesft.review.store import NewDecision, ReviewStore, content_sha256


def _ids(bundle_dir: Path, read_records) -> dict[str, str]:
    """the user's message -> sample_id"""
    return {next(m["content"] for m in d["messages"] if m["role"] == "user"): d["sample_id"]
            for d in read_records(bundle_dir)}


def _find(ids: dict[str, str], needle: str) -> str:
    return next(v for k, v in ids.items() if needle in k)


def test_apply_writes_a_version_that_reflects_every_decision(fresh_bundle, tmp_path, read_records):
    ids = _ids(fresh_bundle, read_records)
    clamp, vowels, leap, restock = (_find(ids, "clamps"), _find(ids, "counts the vowels"), _find(ids, "leap year"),
                                    _find(ids, "Review the following"))
    key = "rv@1.0.0"
    db = tmp_path / "review.sqlite"
    store = ReviewStore(db)

    def add(**kw) -> None:
        store.add(NewDecision(bundle=key, **kw))

    add(sample_id=clamp, reviewer="ann", decision="approve", rubric={"code_quality": 5, "teaching_value": 4})
    add(sample_id=clamp, reviewer="bob", decision="approve", rubric={"code_quality": 3})
    add(sample_id=vowels, reviewer="ann", decision="approve")
    add(sample_id=vowels, reviewer="bob", decision="reject", reason="low_teaching_value", comment="too easy")
    new_leap = "import calendar\n\n\ndef is_leap_year(year):\n    return calendar.isleap(year)\n"
    add(sample_id=leap, reviewer="ann", decision="edit", edited_solution=new_leap,
        rubric={"scenario_authenticity": 2})
    add(sample_id=restock, reviewer="ann", decision="reject", reason="duplicate")
    add(sample_id=restock, reviewer="bob", decision="reject", reason="duplicate")
    store.add(NewDecision(bundle="other@9.9.9", sample_id="elsewhere", reviewer="eve", decision="approve"))

    result = CliRunner().invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(db)])
    assert result.exit_code == 0, result.output
    new = fresh_bundle.parent / "v1.0.1"
    assert str(new) in result.stdout
    b = load_bundle(new)
    assert b.check() == []
    m = b.manifest
    assert m["parent_version"] == "1.0.0" and m["version"] == "1.0.1"
    review = m["review"]
    assert (review["records_reviewed"], review["approved"], review["edited"], review["rejected"]) == (4, 1, 1, 2)
    assert review["decisions"] == 7 and review["rejected_by_reason"] == {"duplicate": 1, "low_teaching_value": 1}
    assert review["database_sha256"] == content_sha256(store.decisions(bundle=key))
    # ann vs bob on clamp (A/A), vowels (A/R), restock (R/R): p_o 2/3, p_e 4/9 -> kappa 0.4
    assert review["agreement"]["cohen_kappa"] == 0.4
    assert review["rubric_means"] == {"code_quality": 3.0, "scenario_authenticity": 2.0}
    assert m["counts"]["rejected"] == 2 and m["counts"]["rejected_by_reason"] == {"review": 2}
    assert m["counts"]["rejected_by_stage"] == {"review": 2}

    old_lines = {json.loads(x)["sample_id"]: x for x in (fresh_bundle / "samples.jsonl").read_text().splitlines()}
    new_lines = {json.loads(x)["sample_id"]: x for x in (new / "samples.jsonl").read_text().splitlines()}
    assert set(new_lines) == set(old_lines) - {vowels, restock}
    for sid in set(old_lines) - {clamp, leap, vowels, restock}:
        assert new_lines[sid] == old_lines[sid]  # unreviewed: byte for byte

    approved = json.loads(new_lines[clamp])
    assert approved["quality"]["review"]["decision"] == "approve"
    assert approved["quality"]["review"]["reviewer"] == "bob"  # the latest decision counts
    assert approved["quality"]["review"]["rubric"]["code_quality"] == 3
    assert approved["quality"]["review"]["decisions"] == 2
    assert "rv@1.0.0" in approved["provenance"]["lineage"]

    edited = json.loads(new_lines[leap])
    assert edited["code"]["solution"] == new_leap
    assert "calendar.isleap" in next(mm["content"] for mm in edited["messages"] if mm["role"] == "assistant")
    assert edited["quality"]["verification"]["status"] == "passed"
    assert edited["quality"]["review"]["edited_fields"] == ["solution"]

    rejected = {e["sample_id"]: e for e in b.rejected() if e.get("stage") == "review"}
    assert set(rejected) == {vowels, restock}
    assert rejected[vowels]["reason"] == "review:low_teaching_value" and rejected[vowels]["reviewer"] == "bob"
    assert rejected[vowels]["record"]["quality"]["review"]["comment"] == "too easy"
    assert rejected[restock]["reason"] == "review:duplicate"

    # The dataset report shows the review statistics.
    report = (new / "report.html").read_text()
    assert "Human review" in report and "Cohen" in report
    summary = json.loads((new / "summary.json").read_text())
    assert summary["pipeline"]["review"]["rejected"] == 2

    # The exports follow: the rejected records are gone from the training files.
    train = (new / "openai_chat" / "train.jsonl").read_text() + (new / "openai_chat" / "validation.jsonl").read_text()
    assert "calendar.isleap" in train and "restock" not in train


def test_apply_refuses_what_it_cannot_do(fresh_bundle, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(tmp_path / "missing.sqlite")])
    assert r.exit_code == 2 and "no review database" in r.output
    db = tmp_path / "r.sqlite"
    ReviewStore(db).add(NewDecision(bundle="other@1.0.0", sample_id="x", reviewer="a", decision="approve"))
    r = runner.invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(db)])
    assert r.exit_code == 2 and "no decisions for rv@1.0.0" in r.output and "other@1.0.0" in r.output
    ReviewStore(db).add(NewDecision(bundle="rv@1.0.0", sample_id="not-in-bundle", reviewer="a", decision="approve"))
    r = runner.invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(db)])
    assert r.exit_code == 2 and "not in rv@1.0.0" in r.output
    assert not (fresh_bundle.parent / "v1.0.1").exists()
    r = runner.invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(db), "--version", "1.0.0"])
    assert r.exit_code == 2 and "already exists" in r.output


def test_an_edit_that_no_longer_passes_stops_apply(fresh_bundle, tmp_path, read_records):
    """An edit saved through the API passed; one that fails at apply time (here written directly to the
    database) stops the command: nothing is written, nothing is silently dropped."""
    leap = _find(_ids(fresh_bundle, read_records), "leap year")
    db = tmp_path / "r.sqlite"
    ReviewStore(db).add(NewDecision(bundle="rv@1.0.0", sample_id=leap, reviewer="ann", decision="edit",
                                    edited_solution="def is_leap_year(year):\n    return year % 4 == 0\n"))
    r = CliRunner().invoke(app, ["review", "apply", str(fresh_bundle), "--db", str(db)])
    assert r.exit_code == 1 and "no longer passes" in r.output
    assert not (fresh_bundle.parent / "v1.0.1").exists()
