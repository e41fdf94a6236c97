"""`codesft review serve` as a real process: a saved decision survives SIGKILL; a non-loopback bind prints a
token and requires it; bad arguments exit 2 without a traceback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import urllib.error
import urllib.request

from typer.testing import CliRunner

from codesft.cli import app


def test_a_saved_decision_survives_kill_9(bundle, tmp_path, serve, post):
    db = tmp_path / "review.sqlite"
    server = serve(bundle, db, "--sample", "1.0")
    queue = json.loads(urllib.request.urlopen(server.url + "/api/queue", timeout=30).read())
    sid = queue["items"][0]["sample_id"]
    status, saved = post(server.url + "/api/decisions", {"sample_id": sid, "decision": "reject",
                                                         "reason": "unsafe", "reviewer": "ann"})
    assert status == 200, saved
    os.kill(server.proc.pid, signal.SIGKILL)  # right after the answer: no shutdown, no checkpoint
    server.proc.wait(timeout=30)
    assert server.proc.returncode == -signal.SIGKILL
    con = sqlite3.connect(db)
    row = con.execute("SELECT sample_id, decision, reason, reviewer, decided_at FROM decisions WHERE id = ?",
                      (saved["id"],)).fetchone()
    assert row == (sid, "reject", "unsafe", "ann", saved["decided_at"])


def test_non_loopback_bind_prints_a_token_and_checks_it(bundle, tmp_path, serve):
    server = serve(bundle, tmp_path / "r.sqlite", host="0.0.0.0")
    token = server.wait_line("token: ").split(": ", 1)[1]
    assert len(token) >= 24
    try:
        urllib.request.urlopen(server.url + "/api/queue", timeout=30)
        raise AssertionError("answered without the token")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    req = urllib.request.Request(server.url + "/api/queue", headers={"Authorization": f"Bearer {token}"})
    assert json.loads(urllib.request.urlopen(req, timeout=30).read())["items"]


def test_default_bind_is_loopback_without_token(bundle, tmp_path, serve):
    server = serve(bundle, tmp_path / "r.sqlite")
    assert server.wait_line("open ") == f"open http://127.0.0.1:{server.port}/"
    assert not any(line.startswith("token: ") for line in server.lines)


def test_serve_user_errors_exit_2(tmp_path, bundle):
    runner = CliRunner()
    r = runner.invoke(app, ["review", "serve", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "no bundle at" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["review", "serve", str(bundle), "--sample", "1.5"])
    assert r.exit_code == 2 and "--sample must be between 0 and 1" in r.output
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_text("this is not sqlite")
    r = runner.invoke(app, ["review", "serve", str(bundle), "--db", str(bad)])
    assert r.exit_code == 2 and "not a usable review database" in r.output
