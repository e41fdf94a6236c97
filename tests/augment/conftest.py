"""A fake teacher for `codesft augment`: a local OpenAI-compatible server (the same approach as tests/sample's
scripted server) whose answers are scripted by what the request says and by its seed (the candidate's index),
so any request order gives the same answers; and a small bundle curated from the example assets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

ASSETS = Path(__file__).resolve().parents[2] / "codesft" / "data" / "examples" / "assets"

# (needles that must all occur in the request's text, seed -> ("ok", answer) | ("http", status)); first match wins.
Rule = tuple[tuple[str, ...], Callable[[int], tuple[str, object]]]


class FakeTeacher:
    """/v1/chat/completions answered from `rules` (an empty answer when none matches). `stall` holds the
    requests whose text holds it until `release()`, so a test can kill a run midway."""

    def __init__(self, rules: list[Rule], stall: str | None = None) -> None:
        self.rules, self.calls = rules, []
        self.stall, self.released = stall, threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = "\n".join(m["content"] for m in body["messages"])
                outer.calls.append(body)
                if outer.stall and outer.stall in text:
                    outer.released.wait(30)
                rule = next((r for needles, r in outer.rules if all(n in text for n in needles)), None)
                kind, val = rule(int(body["seed"])) if rule else ("ok", "")
                if kind == "http":
                    self.send_response(int(val))
                    self.end_headers()
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": val},
                                                   "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client was killed while this request stalled
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return ["\n".join(m["content"] for m in c["messages"]) for c in self.calls]

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def teacher():
    servers: list[FakeTeacher] = []

    def start(rules: list[Rule], stall: str | None = None) -> FakeTeacher:
        servers.append(FakeTeacher(rules, stall))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """Curated by `codesft curate` from the example assets: 8 train records with tests (is_palindrome, chunk,
    merge_intervals, fib, gcd, host_port, word_count, second_largest, in this order), 1 test-split one."""
    from codesft.cli import app

    out = tmp_path_factory.mktemp("augment-bundle")
    result = CliRunner().invoke(app, ["curate", "--out", str(out), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}",
                                      "--input", f"eval_questions:{ASSETS / 'mbpp_style.jsonl'}"])
    assert result.exit_code == 0, result.output
    return out / "b" / "v1.0.0"

