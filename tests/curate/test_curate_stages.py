"""Unit tests of the pure stages on in-memory records."""

from __future__ import annotations

import gzip
import json

import pytest

from codesft.curate.balance import apply_balance, plan_balance, solve
from codesft.curate.config import BalanceConfig, CurateConfig, DecontamConfig, DedupConfig, NormalizeConfig, ScoreConfig, SplitConfig
from codesft.curate.decontam import BENCH_DIR, decontaminate
from codesft.curate.dedup import apply_plan, build_plan
from codesft.curate.gate import gate_one
from codesft.curate.normalize import detect_language, normalize_one
from codesft.curate.redact import RULE_NAMES, redact_one, redact_text
from codesft.curate.score import score_one
from codesft.curate.split import bucket, with_split
from codesft.curate.synthetic import make_sample
from codesft.schema import Message, Verification


def _gate_cfg(preset="balanced", **kw):
    return CurateConfig(gates=preset, gate=kw).resolved().gate


def test_normalize_line_endings_fences_and_language():
    s = make_sample(1)
    s.code = None
    s.metadata = s.metadata.model_copy(update={})
    s.metadata.__pydantic_fields_set__.discard("language")
    s.messages[1].content = "Here:\r\n```js\r\nconst f = (a) => a + 1;   \r\n```\r\n"
    out = normalize_one(s, NormalizeConfig())
    assert "\r" not in out.messages[1].content
    assert out.code.solution == "const f = (a) => a + 1;\n"
    assert out.code.language == "javascript" and out.metadata.language == "javascript"
    assert detect_language("package main\nfunc main() { x := 1 }") == "go"


@pytest.mark.parametrize("secret,rule", [
    ("ops@example.com", "email"),
    ("sk-proj-4fT9aQ2LmZx8Vb7Nc6Rd5Se3Wf1Yg0Hh", "openai_key"),
    ("AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("ghp_Zx8Vb7Nc6Rd5Se3Wf1Yg0Hh4fT9aQ2LmZx8Vb7N", "github_token"),
    ("xoxb-1234567890-abcdefghijkl", "slack_token"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "google_api_key"),
    ("sk_live_abcdefghijklmnop1234", "stripe_key"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "jwt"),
])
def test_redact_each_rule(secret, rule):
    text, hits = redact_text(f"before {secret} after")
    assert secret not in text and f"[REDACTED:{rule}]" in text
    assert [h.name for h in hits] == [rule]


def test_redact_password_forms_keep_structure():
    text, _ = redact_text('db = "postgres://app:hunter2secret@db:5432/x"\npassword = "s3cretpw"')
    assert "hunter2secret" not in text and "s3cretpw" not in text
    assert "postgres://app:[REDACTED:url_password]@db" in text and 'password = "[REDACTED:password_assignment]"' in text


def test_redact_covers_every_text_field_and_blocks_private_keys():
    s = make_sample(3)
    s.tools = [{"type": "function", "function": {"name": "t", "description": "mail ops@example.com"}}]
    s.code.tests += "# token ghp_Zx8Vb7Nc6Rd5Se3Wf1Yg0Hh4fT9aQ2LmZx8Vb7N\n"
    s.metadata.tags = ["owner:lead@example.com"]
    s.messages.append(Message(role="user", content="-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----"))
    out = redact_one(s)
    dumped = out.to_json()
    assert "example.com" not in dumped and "ghp_" not in dumped and "b3BlbnNzaC1r" not in dumped
    assert out.redaction.status == "blocked"
    assert {"tools[0].function.description", "code.tests", "metadata.tags[0]"} <= set(out.redaction.redacted_fields)
    assert all(f.kind in RULE_NAMES for f in out.redaction.findings)
    gated = gate_one(score_one(out, ScoreConfig()), _gate_cfg())
    assert gated.quality.decision == "rejected" and any(r.startswith("redaction_blocked") for r in gated.quality.reasons)


def _verified(s, status="passed"):
    s.quality.verification = Verification(status=status, passed=int(status == "passed"), total=1)
    return s


def test_score_weights_and_bandit_veto():
    good = score_one(_verified(make_sample(0)), ScoreConfig())
    assert good.quality.score == 100.0 and good.quality.has_code_pair
    failed = score_one(_verified(make_sample(0), "failed"), ScoreConfig())
    assert failed.quality.score == pytest.approx(60.0)
    bad = make_sample(0)
    bad.code.solution = "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    bad.messages[1].content = f"```python\n{bad.code.solution}```"
    bad = score_one(_verified(bad), ScoreConfig())
    assert bad.quality.veto and bad.quality.dimensions["safety"] < 1.0
    assert any("B602" in w for w in bad.quality.warnings)
    gated = gate_one(bad, _gate_cfg())
    assert gated.quality.decision == "rejected" and any(r.startswith("veto") for r in gated.quality.reasons)
    custom = score_one(_verified(make_sample(0), "failed"), ScoreConfig(correctness=0.0))
    assert custom.quality.score == 100.0


def test_gate_presets_and_overrides():
    s = score_one(_verified(make_sample(0)), ScoreConfig())
    s.quality.score = 90.0  # a verified record between the balanced (85) and strict (95) floors
    assert gate_one(s, _gate_cfg("balanced")).quality.decision == "accepted"
    assert gate_one(s, _gate_cfg("strict")).quality.decision == "rejected"
    assert gate_one(s, _gate_cfg("balanced", min_score=95)).quality.decision == "rejected"
    many = s.model_copy(deep=True)
    many.quality.iterations = 5
    down = gate_one(many, _gate_cfg("balanced"))
    assert down.quality.decision == "downgraded" and down.quality.reasons[0].startswith("too_many_iterations")
    nopair = s.model_copy(deep=True)
    nopair.quality.has_code_pair = False
    assert gate_one(nopair, _gate_cfg("strict", min_score=0)).quality.decision == "downgraded"
    long = s.model_copy(deep=True)
    long.quality.token_estimate = 5000
    assert gate_one(long, _gate_cfg("strict", min_score=0)).quality.reasons[0].startswith("too_many_tokens")
    assert gate_one(long, _gate_cfg("balanced")).quality.decision == "accepted"
    empty = s.model_copy(deep=True)
    empty.messages = [Message(role="user", content="question only, no answer here")]
    assert gate_one(empty, _gate_cfg()).quality.reasons[0].startswith("no_user_assistant")


def test_dedup_keeps_higher_score_and_records_cluster():
    a = score_one(make_sample(10), ScoreConfig())
    b = a.model_copy(deep=True, update={"sample_id": "f" * 24})
    b.quality.score = 99.0
    near = make_sample(10, variant=1)
    near.quality.score = 50.0
    other = make_sample(11)
    recs = [a, b, near, other]
    plan = build_plan(recs, DedupConfig())
    out = list(apply_plan(recs, plan))
    assert [o.quality.decision for o in out] == ["rejected", "accepted", "rejected", "accepted"]
    assert out[0].quality.reasons[0] == f"exact_duplicate: of {'f' * 24}" or out[0].quality.reasons[0].startswith("near_duplicate")
    assert out[1].dedup.kept and out[1].dedup.size == 3 and out[2].dedup.cluster_id == "f" * 24
    assert out[3].dedup is None
    exact_only = list(apply_plan(recs, build_plan(recs, DedupConfig(near=False))))
    assert [o.quality.decision for o in exact_only] == ["rejected", "accepted", "accepted", "accepted"]


def test_decontam_names_benchmark_and_problem():
    with gzip.open(BENCH_DIR / "HumanEval.jsonl.gz", "rt") as fh:
        he = json.loads(fh.readline())
    s = make_sample(0)
    s.code.solution = he["prompt"] + he["canonical_solution"]
    s.messages[1].content = f"```python\n{s.code.solution}```"
    out = list(decontaminate([s, make_sample(1)], DecontamConfig()))
    assert out[0].quality.decision == "rejected"
    assert out[0].quality.reasons[0].startswith("contaminated: humaneval/HumanEval/0")
    assert out[1].quality.decision == "accepted"
    with gzip.open(BENCH_DIR / "mbpp.jsonl.gz", "rt") as fh:
        mb = next(p for p in map(json.loads, fh) if p["task_id"] == 11)
    m = make_sample(2)
    m.messages[0].content = mb["text"] + " Please keep it short and readable for the team."
    assert list(decontaminate([m], DecontamConfig()))[0].quality.reasons[0].startswith("contaminated: mbpp/11")
    assert list(decontaminate([m], DecontamConfig(enabled=False)))[0].quality.decision == "accepted"


def test_split_is_group_consistent_and_follows_ratios():
    assert bucket(42, "g") == int(__import__("hashlib").sha256(b"42:g").hexdigest()[:8], 16) % 100
    recs = [make_sample(i) for i in range(4000)]
    cfg = SplitConfig(train=70, validation=10, test=10, holdout=10)
    out = [with_split(s, cfg, seed=7) for s in recs]
    by_group: dict[str, set] = {}
    for s in out:
        by_group.setdefault(s.source.group_key, set()).add(s.split.assignment)
    assert all(len(v) == 1 for v in by_group.values())
    shares = {k: sum(1 for s in out if s.split.assignment == k) / len(out) for k in ("train", "validation", "test", "holdout")}
    assert 0.64 < shares["train"] < 0.76 and 0.06 < shares["holdout"] < 0.14
    other_seed = [with_split(s, SplitConfig(), seed=8) for s in recs[:400]]
    assert [s.split.assignment for s in other_seed] != [s.split.assignment for s in out[:400]]


def test_balance_caps_share_and_reports_deficits():
    assert solve({"a": 100, "b": 10, "c": 30}, {"a": 0.5}) == {"a": 40, "b": 10, "c": 30}
    recs = [make_sample(i, category="conversation" if i < 300 else "code_generation") for i in range(400)]
    cfg = BalanceConfig(by="category", targets={"conversation": 0.5, "review_repair": 0.2})
    plan = plan_balance(recs, cfg)
    out = list(apply_balance(recs, plan, cfg, seed=1))
    kept = [s for s in out if s.quality.decision != "rejected"]
    conv = sum(1 for s in kept if s.metadata.category == "conversation")
    assert abs(conv - 100) <= 15 and len(out) == 400
    assert plan.deficits["review_repair"]["actual_share"] == 0.0
    dropped = [s for s in out if s.quality.decision == "rejected"]
    assert all(r.quality.reasons[0].startswith("balance_downsampled") for r in dropped)
    again = list(apply_balance(recs, plan, cfg, seed=1))
    assert [s.quality.decision for s in again] == [s.quality.decision for s in out]


def test_config_rejects_bad_split_and_unknown_format():
    with pytest.raises(ValueError):
        CurateConfig(split={"train": 90, "validation": 20, "test": 0}).resolved()
    with pytest.raises(ValueError):
        CurateConfig(formats=["openai_chat", "nope"]).resolved()
    assert CurateConfig(gates="strict").resolved().gate.min_score == 95.0


SECRET_FIELDS = ["ops@example.com", "sk-proj-4fT9aQ2LmZx8Vb7Nc6Rd5Se3Wf1Yg0Hh", "AKIAIOSFODNN7EXAMPLE",
                 "ghp_Zx8Vb7Nc6Rd5Se3Wf1Yg0Hh4fT9aQ2LmZx8Vb7N", "xoxb-1234567890-abcdefghijkl",
                 "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX",
                 "AIzaSyA1234567890abcdefghijklmnopqrstuv", "sk_live_abcdefghijklmnop1234",
                 "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                 "redis://u:hunter2secret@db:1", 'PassWord\t=\n"s3cretpw"', "API_KEY: 'abcd1234'", 'ſecret = "abcd1234"',
                 'apı_key = "abcd1234"',
                 "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----",
                 # Rules behind a long-token condition, keyed names, escapes that hide a literal.
                 "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", 'DB_PASSWORD = "Vx9!mQ2#tLp7"', "AWS_SECRET_ACCESS_KEY=Xk7mQ2vT9pL4rW8nB3",
                 "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs", "glpat-Hq4Wz8Nc2Lx6Vr0Tb5Ym",
                 "\\u0073k-proj-Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zX"]


@pytest.mark.parametrize("secret", SECRET_FIELDS)
@pytest.mark.parametrize("where", ["user", "tests", "tag", "tool"])
def test_redact_prefilter_never_skips_a_secret(secret, where):
    """The whole-record anchor prefilter is only a shortcut: the result equals the field-by-field walk."""
    import codesft.curate.redact as red

    s = make_sample(5)
    if where == "user":
        s.messages[0].content += f" {secret} é"
    elif where == "tests":
        s.code.tests += f"# {secret}\n"
    elif where == "tag":
        s.metadata.tags = [f"x\"{secret}\"y"]
    else:
        s.tools = [{"type": "function", "function": {"name": "t", "description": f"\\{secret}\u2028"}}]
    fast = red.redact_one(s)
    orig = red.candidates
    try:
        red.candidates = lambda text, rules: list(rules)  # always walk, every rule
        slow = red.redact_one(s)
    finally:
        red.candidates = orig
    assert fast.to_json() == slow.to_json()
    assert fast.redaction.status in ("redacted", "blocked")


RISKY = {
    "B602": "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    "B307": "def calc(expr):\n    return eval(expr)\n",
    "B301": "import pickle\n\ndef load(b):\n    return pickle.loads(b)\n",
    "B506": "import yaml\n\ndef load(t):\n    return yaml.load(t)\n",
    "B311": "import random\n\ndef roll():\n    return random.random()\n",
    "B105": 'def connect():\n    password = "hunter22"\n    return password\n',
    "B108": 'def tmp():\n    return open("/tmp/x.txt", "w")\n',
    "B324": "import hashlib\n\ndef h(b):\n    return hashlib.md5(b).hexdigest()\n",
    "B404": "import subprocess\n\ndef f():\n    return 1\n",
    "noqa": "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)  # noqa: S602\n",
}


def test_ruff_screen_agrees_with_bandit_on_every_solution():
    """Screened findings equal bandit's own on risky and clean code (clean: none; unparsable: None)."""
    from codesft.curate.safety import analyze_batch, bandit_findings, ruff_binary

    assert ruff_binary() is not None, "ruff is a dependency: pip install ruff"
    codes = list(RISKY.values()) + [make_sample(i).code.solution for i in range(20)] + ["def h(:\n"]
    screened = analyze_batch(codes)
    assert screened == [bandit_findings(c) for c in codes]
    assert all(screened[i] for i in range(len(RISKY)))  # every risky snippet is flagged
    assert screened[-1] is None
    assert analyze_batch(codes, prefilter=False) == screened


def test_minhash_values_equal_datasketch_and_candidate_ngrams_equal_all_ngrams():
    from datasketch import MinHash

    from codesft.curate.decontam import _ngrams, _tokens, load_index
    from codesft.curate.dedup import _minhash_setup, minhash_values, shingles

    seed_mh = _minhash_setup(64, 0.8)[0]
    index = load_index(("humaneval", "mbpp"), 10, 60)
    with gzip.open(BENCH_DIR / "HumanEval.jsonl.gz", "rt") as fh:
        texts = [json.loads(line)["prompt"] for line in fh][:20]
    for text in texts + [make_sample(i).code.solution for i in range(5)]:
        sh = shingles(text, 5)
        mh = MinHash(num_perm=64, seed=1, permutations=seed_mh.permutations, scheme=seed_mh.scheme)
        mh.update_batch(sh)
        mine = minhash_values(sh, seed_mh)
        assert mine.dtype == mh.hashvalues.dtype and (mine == mh.hashvalues).all()
        toks = _tokens(text + " zz_unknown_token " + text[: len(text) // 2])
        cand = index._candidate_ngrams(toks)
        assert cand <= _ngrams(toks, 10)
        assert {g for g in cand if g in index.grams} == {g for g in _ngrams(toks, 10) if g in index.grams}


def test_check_python_agrees_with_the_ast_walk():
    """score's compile-based check: same "parses" verdict and same "defines the entry point" answer as ast."""
    from codesft.curate.score import _defines, check_python, parse_python

    cases = [
        "def f():\n    return 1\n",
        "class K:\n    def m(self):\n        def inner():\n            pass\n",
        "async def g():\n    await x\n",
        "return 5\n",  # parses, but the bytecode compiler rejects it
        "if 0:\n    def dead():\n        pass\n",  # the compiler may drop dead code; the AST keeps it
        "while False:\n    class Gone:\n        pass\n",
        "x = 1\nif x is 1:\n    pass\n",  # a compiler-only SyntaxWarning
        "def h(:\n",
        "lambda: 0\n",
        "y = [i for i in range(3)]\n",
        "s = '\\x00'\n",
        "a = '\0'\n",
    ]
    for code in cases:
        tree, parsed = parse_python(code), check_python(code)
        assert (tree is None) == (parsed is None), code
        if tree is not None:
            for name in ("f", "m", "inner", "g", "dead", "Gone", "K", "h", "x", "<lambda>", "<listcomp>", "<module>", "nothing"):
                assert parsed.defines(name) == _defines(tree, name), (code, name)
