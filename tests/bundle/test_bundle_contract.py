"""codesft.bundle is the contract between stages: it sits low (imports no stage), reads manifests into a typed
view, writes records as it is given them (splits and redaction are decided before it), and names reasons
from the one list of soft reasons the gate also uses."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import codesft

PACKAGE = Path(codesft.__file__).parent
STAGES = ("curate", "faults", "train", "evaluate", "review", "sandbox", "executors", "sources", "pipeline", "cli")
# What codesft/bundle/ may import from codesft: the record schema, the export row formats, the report renderer,
# and ConfigError (codesft.config, foundation: a work dir with other settings is the user's to fix, exit 2).
ALLOWED = ("codesft.bundle", "codesft.schema", "codesft.export.formats", "codesft.report.dataset", "codesft.config")


def _sample(i: int, split: str | None = "train", decision: str = "accepted"):
    from codesft.schema import Code, Message, Provenance, Quality, Sample, Source, Split

    return Sample(sample_id=f"s{i}", source=Source(kind="eval_question", group_key=f"g{i}"),
                  messages=[Message(role="user", content=f"Write f{i}."),
                            Message(role="assistant", content=f"```python\ndef f{i}():\n    return {i}\n```")],
                  code=Code(solution=f"def f{i}():\n    return {i}\n", tests=f"assert f{i}() == {i}\n"),
                  quality=Quality(decision=decision, reasons=["score_below_floor: 1 < 2"] if decision == "rejected" else []),
                  provenance=Provenance(content_hash=f"h{i}", source_path="t.jsonl", line=i + 1),
                  split=Split(assignment=split, seed=0, group_key=f"g{i}") if split else None)


def _imports(path: Path) -> list[str]:
    """Every codesft module `path` imports, at the top or inside a function."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("codesft"):
            out += [f"{node.module}.{a.name}" if node.module == "codesft" else node.module for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("codesft")]
    return out


def test_bundle_package_imports_no_stage():
    files = sorted((PACKAGE / "bundle").glob("*.py"))
    assert files, "codesft/bundle/ is missing"
    upward = {f"{f.name}: {m}" for f in files for m in _imports(f)
              if m != "codesft.__version__" and not m.startswith(ALLOWED)}
    assert not upward, f"codesft/bundle/ imports above itself: {sorted(upward)}"


def test_writing_and_reading_a_bundle_loads_no_stage(tmp_path: Path):
    """The same, at run time: nothing the bundle imports, directly or not, pulls a stage in."""
    script = f"""
import sys
from codesft.bundle import load_bundle, write_bundle
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_bundle_contract import _sample
b = load_bundle(write_bundle([_sample(0), _sample(1, "test")], [], {str(tmp_path)!r}, "n", "1.0.0", {{"seed": 0}}))
assert b.check() == [] and b.meta.counts.accepted == 2
print(" ".join(sorted(m for m in sys.modules if m.startswith("codesft."))))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert "codesft.bundle.writer" in loaded
    assert not [m for m in loaded if m.split(".")[1] in STAGES], loaded


def test_manifest_typed_view_covers_what_the_writer_writes(tmp_path: Path):
    from codesft.bundle import Manifest, load_bundle, write_bundle

    path = write_bundle([_sample(0), _sample(1, "holdout")], [], tmp_path, "n", "2.0.0", {"seed": 3},
                        parent_version="1.0.0", formats=["openai_chat", "parquet"])
    b = load_bundle(tmp_path / "n")
    assert isinstance(b.meta, Manifest) and b.path == path
    assert (b.name, b.version, b.parent_version, b.key) == ("n", "2.0.0", "1.0.0", "n@2.0.0")
    assert b.meta.model_extra == {} and b.meta.counts.model_extra == {}  # every key the writer writes is typed
    assert b.meta.counts.accepted == 2 and b.meta.counts.by_split == {"holdout": 1, "train": 1}
    assert b.meta.formats == ["openai_chat", "parquet"] and b.meta.seed == 3
    assert set(b.meta.files) == {p.relative_to(path).as_posix() for p in path.rglob("*")
                                 if p.is_file() and p.name != "manifest.json"}
    assert b.meta.model_dump(mode="json") == {**b.manifest, "review": None}
    assert [json.loads(json.dumps(r))["sample_id"] for r in b.records()] == ["s0", "s1"]


def test_an_incomplete_manifest_fails_when_its_fields_are_read(tmp_path: Path):
    from codesft.bundle import ManifestError, load_bundle

    (tmp_path / "manifest.json").write_text(json.dumps({"version": "1.0.0", "files": {}}))
    (tmp_path / "samples.jsonl").write_text("")
    b = load_bundle(tmp_path)
    assert list(b.samples()) == []  # a reader that needs only the files is not stopped
    with pytest.raises(ManifestError, match=r"manifest.json: not a bundle manifest \(name: Field required"):
        b.name  # noqa: B018


def test_a_kept_record_without_a_split_stops_the_writer(tmp_path: Path):
    """Which split a record belongs to is decided before the writer; it never assigns one itself."""
    from codesft.bundle import write_bundle

    with pytest.raises(ValueError, match="record 's1' reached the bundle writer without a split"):
        write_bundle([_sample(0), _sample(1, split=None)], [], tmp_path, "n", "1.0.0", {"seed": 0})
    assert list(tmp_path.rglob("*.jsonl")) == []  # no half-written bundle is left behind


def test_rejected_records_and_entries_are_written_as_given(tmp_path: Path):
    """Redacting a rejected entry is the rejecting stage's job; the writer adds nothing and drops nothing."""
    from codesft.bundle import load_bundle, primary_reason, rejected_entry, write_bundle

    rejected = _sample(1, decision="rejected")
    rejected.messages[0].content = "Mail dev@example.com, key AKIAIOSFODNN7EXAMPLE."
    entry = {"file": "in.jsonl", "line": 7, "reason": "unreadable: not JSON", "raw": "password=hunter2"}
    b = load_bundle(write_bundle([_sample(0), rejected], [entry], tmp_path, "n", "1.0.0", {"seed": 0}))
    assert list(b.rejected()) == [rejected_entry(rejected), entry]
    assert rejected_entry(rejected)["reason"] == primary_reason(rejected.quality.reasons) == "score_below_floor: 1 < 2"
    assert b.meta.counts.rejected == 2 and b.meta.counts.rejected_by_reason == {"score_below_floor": 1, "unreadable": 1}


def test_gate_soft_reasons_are_the_bundles_soft_reasons():
    """The bundle skips soft reasons when it names a rejection's primary reason: the gate's must all be there."""
    from codesft.bundle.reasons import SOFT_REASONS, primary_reason, reason_code
    from codesft.curate.config import GateConfig
    from codesft.curate.gate import soft_reasons
    from codesft.schema import Verification

    s = _sample(0)
    s.quality.iterations = 99
    s.quality.verification = Verification(status="unverified", before_status="passed")
    cfg = GateConfig(max_iterations=1, require_code_pair=True, unverified="downgrade", before_passes="downgrade")
    codes = {reason_code(r) for r in soft_reasons(s, cfg)}
    assert codes == SOFT_REASONS
    assert primary_reason([*soft_reasons(s, cfg), "dedup: copy of s9"]) == "dedup: copy of s9"


def test_old_import_paths_are_the_bundle_package():
    import codesft.bundle as bundle
    import codesft.export.bundle as old
    from codesft.export import ALL_FORMATS, Bundle, load_bundle, write_bundle

    assert (ALL_FORMATS, Bundle, load_bundle, write_bundle) == (bundle.ALL_FORMATS, bundle.Bundle,
                                                                 bundle.load_bundle, bundle.write_bundle)
    assert all(getattr(old, name) is getattr(bundle, name) for name in old.__all__)
