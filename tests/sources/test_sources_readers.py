"""Every reader on its example asset, plus the failure paths that must not lose lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesft.curate.config import VerifyConfig
from codesft.curate.verify import verify
from codesft.sources import ReadError, read_source

ASSETS = Path(__file__).resolve().parents[2] / "examples" / "assets"


def _read(spec, options=None):
    recs = list(read_source(spec, options))
    return [r for r in recs if not isinstance(r, ReadError)], [r for r in recs if isinstance(r, ReadError)]


@pytest.mark.parametrize("spec,good,bad", [
    ("eval_questions:eval_questions.jsonl", 7, 1), ("eval_questions:humaneval_style.jsonl", 3, 0),
    ("eval_questions:mbpp_style.jsonl", 3, 0), ("code_reviews:code_reviews.jsonl", 4, 0),
    ("chats:chats_openai.jsonl", 3, 1), ("chats:chats_sharegpt.jsonl", 2, 0),
    ("instruct:instruct_alpaca.json", 3, 0), ("instruct:instruct_messages.jsonl", 2, 0),
    ("instruct:instruct.parquet", 3, 0), ("git:sample_repo.bundle", 4, 4),
])
def test_every_example_asset_reads(spec, good, bad):
    kind, name = spec.split(":")
    samples, errors = _read(f"{kind}:{ASSETS / name}")
    assert (len(samples), len(errors)) == (good, bad)
    for s in samples:
        assert s.provenance.source_path and s.provenance.content_hash and s.source.group_key
    assert [s.sample_id for s in samples] == [s.sample_id for s in _read(f"{kind}:{ASSETS / name}")[0]]


def test_shapes_map_to_the_record():
    he, _ = _read(f"eval_questions:{ASSETS / 'humaneval_style.jsonl'}")
    assert he[0].code.entry_point == "count_vowels" and "def check(" in he[0].code.tests
    mb, _ = _read(f"eval_questions:{ASSETS / 'mbpp_style.jsonl'}")
    assert "assert word_count" in mb[0].messages[0].content and mb[0].source.group_key == "eval_question:9001"
    cr, _ = _read(f"code_reviews:{ASSETS / 'code_reviews.jsonl'}")
    assert cr[0].code.before and cr[0].metadata.category == "review_repair" and "CWE-89" in cr[0].metadata.tags
    sg, _ = _read(f"chats:{ASSETS / 'chats_sharegpt.jsonl'}")
    call = sg[1].messages[1].tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
    assert sg[1].messages[2].role == "tool" and sg[1].messages[2].tool_call_id == call.id
    assert sg[1].tools[0]["function"]["name"] == "get_weather"


def test_git_filters_and_provenance():
    samples, errors = _read(f"git:{ASSETS / 'sample_repo.bundle'}")
    reasons = sorted(e.reason for e in errors)
    assert any("not an imperative" in r for r in reasons) and any("files (exactly one" in r for r in reasons)
    s = samples[0]
    assert s.provenance.license == "MIT" and s.provenance.patch_ref.endswith(":stats.py")
    assert s.code.before and s.code.solution and len(s.source.artifact_refs) == 3
    assert s.provenance.generated_at.startswith("2024-01-")
    _, errs = _read(f"git:{ASSETS / 'sample_repo.bundle'}", {"git": {"license_allowlist": ["Apache-2.0"]}})
    assert len(errs) == 8 and all("license MIT not in allowlist" in e.reason for e in errs)
    more, _ = _read(f"git:{ASSETS / 'sample_repo.bundle'}", {"git": {"allow_new_files": True}})
    assert len(more) == 5


def test_bad_input_never_crashes(tmp_path: Path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"problem": "p", "solution": "s"}\nnot json\n[1, 2]\n{"problem": 3, "solution": "x"}\n\n')
    samples, errors = _read(f"eval_questions:{p}")
    assert len(samples) == 1 and [e.line for e in errors] == [2, 3, 4]
    _, missing = _read(f"chats:{tmp_path / 'nope.jsonl'}")
    assert missing[0].reason.startswith("input not found")
    _, notrepo = _read(f"git:{p}")
    assert notrepo[0].reason.startswith("unreadable git repository")
    with pytest.raises(ValueError):
        list(read_source("bogus:x"))


def test_verify_batches_through_one_pool(monkeypatch):
    import codesft.sandbox as sandbox

    calls = []
    real = sandbox.SandboxPool.imap

    def spy(self, programs, **kw):
        programs = list(programs)
        calls.append(len(programs))
        return real(self, programs, **kw)

    from codesft.evaluate.canary import check_sandbox

    check_sandbox(VerifyConfig().sandbox_settings().limits())  # the canary's own programs are not counted
    monkeypatch.setattr(sandbox.SandboxPool, "imap", spy)
    samples, _ = _read(f"code_reviews:{ASSETS / 'code_reviews.jsonl'}")
    evals, _ = _read(f"eval_questions:{ASSETS / 'eval_questions.jsonl'}")
    out = list(verify(samples + evals, VerifyConfig(batch_size=64)))
    assert calls == [len(calls) and calls[0]] and calls[0] >= 10  # one batch, many programs
    v = {s.sample_id: s.quality.verification for s in out}
    assert v[samples[1].sample_id].status == "passed" and v[samples[1].sample_id].before_status == "failed"
    assert v[samples[3].sample_id].status == "unverified"  # no tests: not a failure
    lcm = next(s for s in out if s.code.entry_point == "lcm")
    assert lcm.quality.verification.status == "failed"
