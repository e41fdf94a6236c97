"""No secret reaches an output file in clear: tool-use records, rejected lines cut at a limit, rule gaps.

All secrets here are fake, made to have the shape of the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.curate.redact import redact_one, redact_text
from codesft.curate.synthetic import make_sample
from codesft.schema import Message, ToolCall, ToolCallFunction

HF = "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"
OPENAI = "sk-proj-Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zXcVbN"
WEBHOOK = "https://hooks.slack.com/services/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"
GITHUB = "ghp_Lm3Np5Qr7St9Uv1Wx3Yz5Ab7Cd9Ef1Gh3Ij5K"
AWS_SECRET = "Xk7mQ2vT9pL4rW8nB3jH6cF1dS5gZ0yE2uA9iO4w"
ANTHROPIC = "sk-ant-api03-Rt5Yu7Io9Pa1Sd3Fg5Hj7Kl9Zx1Cv3Bn5Mq7We9"
DB_PASSWORD = "Vx9!mQ2#tLp7"
GITLAB = "glpat-Hq4Wz8Nc2Lx6Vr0Tb5Ym"
SLACK_WORKFLOW = "https://hooks.slack.com/workflows/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"
STRADDLE = "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF9eD8c"  # placed across the 4,000-character cut
COMMIT_TOKEN = "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"  # across the 500-character cut of a commit message
SECRETS = {"hf": HF, "openai": OPENAI, "webhook": WEBHOOK, "github": GITHUB, "aws_secret": AWS_SECRET,
           "anthropic": ANTHROPIC, "db_password": DB_PASSWORD, "gitlab": GITLAB, "slack_workflow": SLACK_WORKFLOW,
           "straddle": STRADDLE, "commit": COMMIT_TOKEN}


def _fragments(secret: str) -> list[str]:
    """The secret, its first and its last 10 characters: a cut keeps a prefix, an escape changes the front."""
    return [secret, secret[:10], secret[-10:]]


def _escaped(text: str) -> str:
    """`s` -> `\\u0073` and `/` -> `\\/`: forms a JSON decoder turns back into clear text."""
    return text.replace("s", "\\u0073", 1).replace("/", "\\/")


def _tool_chat() -> dict:
    arguments = ('{"callback": "' + _escaped(WEBHOOK) + '", "auth": "' + _escaped(OPENAI) + '", "city": "Oslo"}')
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": f"Weather lookup. Service token {HF}.",
        "parameters": {"type": "object", "properties": {
            # Properties named like the record's own structural keys: their values are user data.
            "status": {"type": "string", "description": f"Status callback, signed with {ANTHROPIC}"},
            "role": {"type": "string", "description": "Caller role", "default": f"admin:{GITHUB}"},
            "city": {"type": "string"}}, "required": ["city"]}}}]
    return {"id": "tool-secrets", "group": "tool-secrets", "tools": tools, "messages": [
        {"role": "system", "content": f'You are a weather bot.\nDB_PASSWORD = "{DB_PASSWORD}"'},
        {"role": "user", "content": "What is the weather in Oslo today? (marker-tool-secrets)"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1",
         "content": json.dumps({"temp_c": 4, "debug": f"AWS_SECRET_ACCESS_KEY={AWS_SECRET} via {GITHUB}"})},
        {"role": "assistant", "content": "It is 4 degrees Celsius in Oslo today."}]}


def _long_broken_line() -> str:
    head = '{"problem": "broken record ' + "x" * 3000
    pad = 4000 - 15 - len(head) - 1  # the token starts 15 characters before the cut
    return head + "y" * pad + " " + STRADDLE + " tail " + "z" * 200  # no closing brace: invalid JSON


def _git_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
                            "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"})

    git("init", "-q", "-b", "main")
    (repo / "a.py").write_text("def a():\n    return 1\n")
    (repo / "b.py").write_text("def b():\n    return 2\n")
    (repo / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge, to any person\n")
    git("add", ".")
    git("commit", "-q", "-m", "Add a and b")
    (repo / "a.py").write_text("def a():\n    return 10\n")
    (repo / "b.py").write_text("def b():\n    return 20\n")
    git("add", ".")
    # Two files changed: the git reader rejects the commit, and its message goes to rejected.jsonl cut at 500.
    head = "Fix the return values of a and b\n\n" + "Notes on the change. " * 20
    git("commit", "-q", "-m", head + "n" * (500 - 10 - len(head) - 1) + " " + COMMIT_TOKEN + " and more notes.")
    (repo / "a.py").write_text("def a():\n    return 11\n")
    git("add", ".")
    git("commit", "-q", "-m", f"Fix a to return 11\n\nPost the release note to {SLACK_WORKFLOW} when done.")
    return repo


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from codesft.cli import app

    tmp = tmp_path_factory.mktemp("secrets")
    chats = tmp / "chats.jsonl"
    chats.write_text(json.dumps(_tool_chat()) + "\n")
    questions = tmp / "questions.jsonl"
    questions.write_text("\n".join([
        json.dumps({"id": "q1", "problem": "Return the connection settings for the test database.",
                    "solution": "def settings():\n    return {'host': 'db'}\n", "entry_point": "settings",
                    "tests": f'DB_PASSWORD = "{DB_PASSWORD}"\nassert settings()["host"] == "db"\n'}),
        _long_broken_line()]) + "\n")
    reviews = tmp / "reviews.jsonl"
    reviews.write_text(json.dumps({
        "id": "r1", "code": "def token():\n    return None\n", "fixed_code": "def token():\n    return ''\n",
        "comments": [f"Do not log the deploy token {GITLAB}; return an empty string instead."]}) + "\n")
    repo = _git_repo(tmp)
    out = tmp / "out"
    args = ["curate", "--out", str(out), "--name", "s", "--verify.enabled", "false", "--gates", "experimental",
            "--gate.unverified", "accept", "--split.train", "100", "--split.validation", "0", "--split.test", "0",
            "--input", f"chats:{chats}", "--input", f"eval_questions:{questions}",
            "--input", f"code_reviews:{reviews}", "--input", f"git:{repo}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out / "s" / "v1.0.0"


def test_no_secret_fragment_in_any_bundle_file(bundle: Path, bundle_file_text):
    texts = {p: bundle_file_text(p) for p in bundle.rglob("*") if p.is_file()}
    assert any(p.name == "rejected.jsonl" for p in texts) and any(p.parent.name == "hf_tool_calling" for p in texts)
    for p, text in texts.items():
        for kind, secret in SECRETS.items():
            for frag in _fragments(secret):
                assert frag not in text, f"{kind} ({frag}) in clear in {p.relative_to(bundle)}"


def test_tool_use_record_is_redacted_and_exported_decoded(bundle: Path):
    records = [json.loads(x) for x in (bundle / "samples.jsonl").read_text().splitlines()]
    chat = next(r for r in records if "marker-tool-secrets" in json.dumps(r))
    red = chat["redaction"]
    assert red["status"] == "redacted"
    fields = set(red["redacted_fields"])
    assert {"tools[0].function.description", "tools[0].function.parameters.properties.status.description",
            "tools[0].function.parameters.properties.role.default", "messages[0].content",
            "messages[2].tool_calls[0].function.arguments.callback",
            "messages[2].tool_calls[0].function.arguments.auth", "messages[3].content"} <= fields
    args = json.loads(chat["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert args == {"callback": "[REDACTED:slack_webhook]", "auth": "[REDACTED:openai_key]", "city": "Oslo"}
    rows = [json.loads(x) for f in (bundle / "hf_tool_calling").glob("*.jsonl") for x in f.read_text().splitlines()]
    row = next(r for r in rows if "marker-tool-secrets" in json.dumps(r))
    assert row["messages"][2]["tool_calls"][0]["function"]["arguments"] == args


def test_rejected_raw_text_is_redacted_before_the_cut(bundle: Path):
    rejected = [json.loads(x) for x in (bundle / "rejected.jsonl").read_text().splitlines()]
    line = next(r for r in rejected if r.get("file", "").endswith("questions.jsonl") and r["line"] == 2)
    assert line["reason"].startswith("invalid JSON") and len(line["raw"]) == 4000
    assert line["raw"].endswith("y [REDACTED:opena")  # the mark, not the token's first characters
    commit = next(r for r in rejected if r.get("raw", "").startswith("Fix the return values"))
    assert len(commit["raw"]) == 500 and commit["raw"].endswith("n [REDACTED:")


def test_secrets_in_tests_review_comments_and_commit_messages(bundle: Path, bundle_file_text):
    everything = "\n".join(bundle_file_text(p) for p in bundle.rglob("*.jsonl"))
    records = [json.loads(x) for x in (bundle / "samples.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (bundle / "rejected.jsonl").read_text().splitlines()]
    recs = records + [r["record"] for r in rejected if "record" in r]
    question = next(r for r in recs if r["code"] and "settings()" in (r["code"]["tests"] or ""))
    assert 'DB_PASSWORD = "[REDACTED:password_assignment]"' in question["code"]["tests"]
    assert question["redaction"]["status"] == "redacted"
    review = next(r for r in recs if r["source"]["kind"] == "code_review")
    assert "[REDACTED:gitlab_token]" in json.dumps(review) and review["redaction"]["status"] == "redacted"
    commit = next(r for r in recs if r["source"]["kind"] == "commit" and "Fix a to return 11" in json.dumps(r))
    assert "[REDACTED:slack_webhook]" in json.dumps(commit["messages"]) and commit["redaction"]["status"] == "redacted"
    assert everything.count("[REDACTED:slack_webhook]") >= 2  # the tool-call argument and the commit message


@pytest.mark.parametrize("text,secret,rule", [
    (f'DB_PASSWORD = "{DB_PASSWORD}"', DB_PASSWORD, "password_assignment"),
    ('AWS_SECRET_ACCESS_KEY = "Xk7mQ2vT9pL4rW8nB3jH6cF1dS5gZ0yE2uA9iO4w"', AWS_SECRET, "aws_access_key"),
    (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "password_assignment"),
    ("MYSQL_ROOT_PASSWORD=hunter2024", "hunter2024", "password_assignment"),
    ("api_key: Qz8vN3mK1pL7rT5w", "Qz8vN3mK1pL7rT5w", "password_assignment"),
    (f"login with {HF} please", HF, "huggingface_token"),
    (f'HF_TOKEN = "{HF}"', HF, "huggingface_token"),
    ("pypi-AgEIcHlwaS5vcmcCJGQ4ZjM2YTk5LWM3NGMtNDE3Mi1hYTQ1LTBlNzY5YjQ2NzE4NgACJXsicGVybWlzc2lvbnMiOiAidXNlciJ9",
     "LWM3NGMtNDE3Mi1hYTQ1", "pypi_token"),
    ("GROQ_KEY gsk_Hq4Wz8Nc2Lx6Vr0Tb5YmPq2Wr4Et6Yu8Io0Aa1Ss3Dd5Ff7Gg9Hh1J", "Hq4Wz8Nc2Lx6Vr0Tb5Ym", "provider_token"),
    (f"deploy {GITLAB}", GITLAB, "gitlab_token"),
    (f"post to {SLACK_WORKFLOW}", SLACK_WORKFLOW, "slack_webhook"),
    ("bot MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs", "ZnCjm1XVW7vRze4b7Cq4se7kKWs", "discord_token"),
    ("hook https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOp_QrStUvWxYz-0123456789",
     "AbCdEfGhIjKlMnOp_QrStUvWxYz", "discord_webhook"),
    ("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", "TwL2iGABf9DHoTf", "sendgrid_key"),
    # JSON escapes hide a token from a pattern; the decoded text is scanned too.
    ('{"k": "\\u0073k-proj-Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zXcVbN"}', "Q7wE9rT2yU4iO6pA8sD0", "openai_key"),
])
def test_rule_gaps_are_closed(text, secret, rule):
    out, hits = redact_text(text)
    assert secret not in out and rule in [h.name for h in hits], out


def test_assignment_entropy_check_keeps_code():
    """Values assigned to secret-looking names are redacted; code that only names a secret is left alone."""
    secret = ['PASSWORD = "s3cr3tpw"', 'db_password: "Tr0ub4dor"', "client_secret=Zr4Tq8Wm2Np6Ks1Vb9",
              'config["api_key"] = "Qz8vN3mK1pL7"']
    code = ["password = get_password()", "def check(password: str) -> bool:", "max_tokens = 100",
            'unk_token = "[UNK]"', 'eos_token = "</s>"', 'token = "hello"', "secret = os.environ['SECRET']",
            "password = self.password", 'if password == "admin123":', 'token_type = "bearer"',
            'tokenizer = AutoTokenizer.from_pretrained("gpt2")', "API_KEY = ${API_KEY}"]
    assert [redact_text(t)[0] == t for t in secret] == [False] * len(secret)
    assert [redact_text(t)[0] for t in code] == code


def test_status_follows_every_finding_in_every_text_field():
    """A finding anywhere (tool schema under a `status` key, tool result, escaped arguments) -> not clean."""
    cases = {
        "schema": lambda s: setattr(s, "tools", [{"type": "function", "function": {
            "name": "f", "parameters": {"properties": {"status": {"description": f"token {HF}"}}}}}]),
        "result": lambda s: s.messages.append(Message(role="tool", content=f"ok {GITHUB}", tool_call_id="c")),
        "arguments": lambda s: s.messages.append(Message(role="assistant", tool_calls=[ToolCall(
            id="c", function=ToolCallFunction(name="f", arguments='{"url": "' + _escaped(WEBHOOK) + '"}'))])),
        "system": lambda s: s.messages.insert(0, Message(role="system", content=f"key {ANTHROPIC}")),
    }
    for name, plant in cases.items():
        s = make_sample(7)
        plant(s)
        out = redact_one(s)
        assert out.redaction.status == "redacted", name
        dumped = out.to_json()
        assert not any(f in dumped for sec in (HF, GITHUB, WEBHOOK, ANTHROPIC) for f in _fragments(sec)), name


def test_a_record_that_skipped_redaction_is_never_clean(tmp_path: Path):
    """With the redact stage turned off, records say `unscanned`: `clean` is a claim only a scan makes."""
    from codesft.cli import app
    from codesft.schema import Sample

    assert Sample.model_validate(make_sample(0).model_dump(exclude={"redaction"})).redaction.status == "unscanned"
    chats = tmp_path / "chats.jsonl"
    chats.write_text(json.dumps(_tool_chat()) + "\n")
    for enabled, expected in (("false", "unscanned"), ("true", "redacted")):
        out = tmp_path / f"out-{enabled}"
        result = CliRunner().invoke(app, ["curate", "--out", str(out), "--name", "s", "--verify.enabled", "false",
                                          "--redact.enabled", enabled, "--gates", "experimental",
                                          "--gate.unverified", "accept", "--input", f"chats:{chats}"])
        assert result.exit_code == 0, result.output
        lines = (out / "s" / "v1.0.0" / "samples.jsonl").read_text().splitlines()
        assert [json.loads(x)["redaction"]["status"] for x in lines] == [expected]
    clean = redact_one(make_sample(1).model_copy(update={"redaction": make_sample(1).redaction.model_copy(
        update={"status": "unscanned"})}))
    assert clean.redaction.status == "clean"
