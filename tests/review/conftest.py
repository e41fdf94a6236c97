"""A small bundle made by `codesft curate` (and `codesft faults`) from the tests' own assets, plus helpers
to run `codesft review serve` as a real server process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

ASSETS = Path(__file__).parent / "assets"


class Listener:
    """A loopback HTTP server that records every request: the XSS payloads call it if they ever run."""

    def __init__(self) -> None:
        hits: list[str] = []
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def xss_payload(port: int) -> str:
    """Markup that, if the page ever rendered it as HTML, would call the listener: inline script, an event
    handler, an image, and a meta refresh (the last one is not stopped by a Content-Security-Policy)."""
    base = f"http://127.0.0.1:{port}"
    return (f'<script>fetch("{base}/script")</script><img src="{base}/img" onerror="fetch(\'{base}/onerror\')">'
            f'<meta http-equiv="refresh" content="0;url={base}/meta">')


def write_xss_asset(path: Path, port: int) -> Path:
    payload = xss_payload(port)
    row = {"id": "rv-xss", "group": "xss", "difficulty": "easy",
           "problem": f"Write a function that reverses a list. {payload} Keep the input list unchanged.",
           "entry_point": "reverse_list",
           "solution": f"def reverse_list(items):\n    # {payload}\n    return list(reversed(items))\n",
           "tests": "assert reverse_list([1, 2, 3]) == [3, 2, 1]\nassert reverse_list([]) == []\n"}
    path.write_text(json.dumps(row) + "\n")
    return path


def curate_bundle(out: Path, extra_inputs: list[str] = ()) -> Path:
    from codesft.cli import app

    args = ["curate", "--out", str(out), "--name", "rv", "--seed", "7", "--gates", "balanced",
            "--verify.timeout-s", "120",
            "--input", f"eval_questions:{ASSETS / 'tasks.jsonl'}",
            "--input", f"code_reviews:{ASSETS / 'code_reviews.jsonl'}"]
    for spec in extra_inputs:
        args += ["--input", spec]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out / "rv" / "v1.0.0"


@pytest.fixture(scope="session")
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, listener) -> Path:
    """rv@1.0.0: 7 coding tasks (one without tests), a repair pair and the XSS record."""
    tmp = tmp_path_factory.mktemp("review-bundle")
    xss = write_xss_asset(tmp / "xss.jsonl", listener.port)
    return curate_bundle(tmp / "bundles", [f"eval_questions:{xss}"])


@pytest.fixture()
def fresh_bundle(tmp_path, listener) -> Path:
    """A private copy (apply writes beside the bundle)."""
    xss = write_xss_asset(tmp_path / "xss.jsonl", listener.port)
    return curate_bundle(tmp_path / "bundles", [f"eval_questions:{xss}"])


def records(bundle_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle_dir / "samples.jsonl").read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`codesft review serve` in a child process (its own session, so a kill reaches only it)."""

    def __init__(self, bundle_dir: Path, db: Path, *args: str, host: str = "127.0.0.1"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codesft.cli", "review", "serve", str(bundle_dir), "--db", str(db),
             "--host", host, "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + "\n".join(self.lines))
            try:
                urllib.request.urlopen(urllib.request.Request(self.url + "/static/review.css", headers=headers or {}),
                                       timeout=5)
                return
            except urllib.error.HTTPError:
                return  # it answers (e.g. 401 without the token): it is up
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + "\n".join(self.lines))

    def wait_line(self, prefix: str, timeout: float = 10.0) -> str:
        """The first output line starting with `prefix` (the drain thread may lag the server's start)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line starting with {prefix!r} in:\n" + "\n".join(self.lines))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def post_json(url: str, payload: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture()
def serve():
    """Start `codesft review serve` processes; every one still running is stopped at teardown."""
    started: list[Server] = []

    def _serve(bundle_dir: Path, db: Path, *args: str, host: str = "127.0.0.1", ready_headers=None) -> Server:
        server = Server(bundle_dir, db, *args, host=host)
        started.append(server)
        server.wait_ready(ready_headers)
        return server

    yield _serve
    for server in started:
        server.stop()


@pytest.fixture()
def post():
    return post_json


@pytest.fixture()
def read_records():
    return records

