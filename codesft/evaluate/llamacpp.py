"""The managed llama.cpp engine behind `--backend llamacpp`: llama.cpp's own `llama-server`, started by codesft
for one command and stopped when it ends.

Why this engine: on a CPU, llama.cpp runs the GGUF's quantized weights directly and batches the requests of its
parallel slots into one forward pass (continuous batching), and a request with `n > 1` processes its prompt once
for all n answers. llama-cpp-python's own server serves one request at a time, so codesft drives the C++
server instead (docs/sample.md has the measured numbers).

- **The binary.** `--llama-server PATH`, else `$CODESFT_LLAMA_SERVER`, else `llama-server` on PATH, else the one
  `codesft llamacpp build` compiled into the cache from the llama.cpp sources that the `llama-cpp-python` sdist
  on PyPI vendors (pinned below, so every build is the same engine; cmake and a C++ compiler, ~4 min on 2 cores).
  None found is a harness fault: the command stops and says how to get one.
- **The model.** A `.gguf` file, an `offline:NAME` model (its parts joined once into the cache, sha256
  checked), or a transformers directory (converted once to GGUF with the converter shipped in the same sdist).
- **The process.** A free loopback port, `--parallel SLOTS` with a context of `ctx_per_slot` tokens each; codesft
  waits for `/health`, talks to it through the OpenAI backend, and stops it on exit, on an exception and on
  Ctrl-C (SIGTERM, then SIGKILL). The server also gets PR_SET_PDEATHSIG, so a parent killed with SIGKILL does
  not leave it running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codesft.evaluate.backends import Generation, GenRequest, OpenAIBackend, wall_shares
from codesft.evaluate.llamacpp_build import (
    EngineError,
    find_server,
    gguf_for,
    server_version,
)

__all__ = ["EngineError", "LlamaCppBackend", "LlamaServer"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Loaded in the parent: the child between fork and exec must not dlopen (another thread may hold the loader's
# lock at fork time); it only makes the one prctl call.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the parent dies, however the parent dies. (The
    signal follows the thread that forked: the server is started from the command's main thread.)"""
    with contextlib.suppress(OSError, AttributeError):
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class LlamaServer:
    """One llama-server process for one command (a context manager)."""

    def __init__(self, binary: Path, gguf: Path, *, slots: int = 16, ctx_per_slot: int = 2048,
                 threads: int | None = None, alias: str = "codesft", startup_timeout_s: float = 300.0,
                 log_path: Path | None = None, extra_args: list[str] | None = None) -> None:
        self.binary, self.gguf, self.slots, self.ctx_per_slot = binary, gguf, slots, ctx_per_slot
        self.threads = threads or os.cpu_count() or 1
        self.alias, self.startup_timeout_s, self.log_path = alias, startup_timeout_s, log_path
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.version = ""
        self._log_fh: Any = None
        self._own_log = False

    def died(self) -> str | None:
        """Why the server is gone (its exit code and log tail), or None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"llama-server exited with code {self.proc.returncode}: {self.log_tail()}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        self.version = server_version(self.binary)
        if self.log_path is None:
            # A log of our own is removed on stop: what an error needs of it is quoted in the error.
            fd, name = tempfile.mkstemp(prefix="codesft-llama-server-", suffix=".log")
            os.close(fd)
            self.log_path, self._own_log = Path(name), True
        for _attempt in range(3):  # another process may take the free port between the probe and the bind
            self.port = _free_port()
            self._log_fh = open(self.log_path, "ab")
            cmd = [str(self.binary), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
                   "--parallel", str(self.slots), "--ctx-size", str(self.slots * self.ctx_per_slot),
                   "--threads", str(self.threads), "--alias", self.alias, "--no-webui", *self.extra_args]
            self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
            if self._wait_healthy():
                return self
            tail = self.log_tail()
            self.stop()
            if "bind" not in tail and "address already in use" not in tail.lower():
                raise EngineError(f"llama-server did not start ({self.binary} -m {self.gguf}): {tail}")
        raise EngineError("llama-server could not bind a loopback port after 3 attempts")

    def _wait_healthy(self) -> bool:
        import requests

        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                r = requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
                if r.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise EngineError(f"llama-server was not healthy after {self.startup_timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 800) -> str:
        try:
            return (self.log_path.read_bytes()[-n:].decode("utf-8", "replace") if self.log_path else "").strip()
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._own_log = None, False

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaCppBackend(OpenAIBackend):
    """The OpenAI backend, against a llama-server this backend started. `close()` stops the server.

    By default one request per answer, `slots + 2` in flight (the server's queue never runs dry while a response
    travels back), the answers of one prompt sent one after the other so the server's prompt cache serves their
    shared prefix. With `share_prompt`, the answers of one prompt with consecutive seeds go out as one request
    with `n` answers instead (the prompt processed once; the server seeds child j with seed + j, codesft's
    `seed + i` convention): measured slower on 2 CPU cores (docs/sample.md), as such a request holds its slots
    until its longest answer ends."""

    def __init__(self, server: LlamaServer, model_provenance: dict[str, Any], *, share_prompt: bool = False,
                 **kw: Any) -> None:
        kw.setdefault("concurrency", max(1, server.slots) + (0 if share_prompt else 2))
        super().__init__(server.base_url, server.alias, **kw)
        self.server, self.model_provenance, self.share_prompt = server, model_provenance, share_prompt

    @classmethod
    def start(cls, model: str, *, llama_server: str | None = None, slots: int = 16, ctx_per_slot: int = 2048,
              threads: int | None = None, log_path: Path | None = None, extra_args: list[str] | None = None,
              **kw: Any) -> LlamaCppBackend:
        gguf, prov = gguf_for(model)
        server = LlamaServer(find_server(llama_server), gguf, slots=slots, ctx_per_slot=ctx_per_slot,
                             threads=threads, log_path=log_path, extra_args=extra_args).start()
        try:
            return cls(server, prov, **kw)
        except BaseException:
            server.stop()
            raise

    @property
    def provenance(self) -> dict[str, Any]:
        return {**self.model_provenance, "engine": "llama.cpp server", "engine_version": self.server.version,
                "slots": self.server.slots}

    @property
    def device(self) -> str:
        from codesft.models import device_description

        return f"{device_description('cpu')} (llama.cpp, {self.server.threads} threads)"

    def close(self) -> None:
        self.server.stop()

    def _groups(self, reqs: list[GenRequest]) -> list[list[GenRequest]]:
        """Runs of requests with the same prompt and consecutive seeds, at most `slots` long (the server needs
        a free slot per answer of an n-request)."""
        def prompt_of(r: GenRequest) -> str:
            return json.dumps([r.messages, r.prompt], sort_keys=True)

        groups: list[list[GenRequest]] = []
        for r in sorted(reqs, key=lambda r: (prompt_of(r), r.seed)):
            g = groups[-1] if groups else None
            if (g and prompt_of(g[0]) == prompt_of(r) and r.seed == g[-1].seed + 1
                    and len(g) < self.server.slots):
                g.append(r)
            else:
                groups.append([r])
        return groups

    def _group(self, group: list[GenRequest]) -> list[Generation]:
        first = group[0]
        path, body = self._payload(first)
        if len(group) > 1:
            body["n"] = len(group)
        data, error, dt = self._post(path, body)
        if error:
            return [Generation(key=r.key, error=error, time_s=dt) for r in group]
        try:
            choices = sorted(data["choices"], key=lambda c: int(c.get("index", 0)))
            if len(choices) != len(group):
                raise ValueError(f"{len(choices)} choices for n={len(group)}")
            first = int((data.get("usage") or {}).get("completion_tokens") or 0)
            gens = [self._parse_choice(r, c, first, dt / len(group)) for r, c in zip(group, choices)]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return [Generation(key=r.key, error=f"malformed response: {type(exc).__name__}: {exc}", time_s=dt)
                    for r in group]
        if len(group) > 1:
            # With n > 1 the server's usage counts the first answer only: the others are counted by its
            # tokenizer (the answer's text, plus the end-of-sequence or stop token that ended it).
            for g in gens[1:]:
                g.n_tokens = self._count_tokens(g.text) + (g.finish_reason != "length")
        return gens

    def _count_tokens(self, text: str) -> int:
        import requests

        try:
            r = requests.post(f"http://127.0.0.1:{self.server.port}/tokenize", json={"content": text}, timeout=30)
            return len(r.json()["tokens"])
        except (requests.RequestException, ValueError, KeyError):
            return 0  # a count only feeds throughput figures, never a verdict

    def generate(self, requests_: list[GenRequest]) -> Iterator[list[Generation]]:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        if not self.share_prompt:
            ordered = [r for g in self._groups(requests_) for r in g]  # a prompt's answers one after the other
            for batch in super().generate(ordered):
                self._check_alive()
                yield batch
            return
        groups = self._groups(requests_)
        # Each group occupies len(group) slots: enough groups in flight to keep every slot busy.
        in_flight = max(1, self.concurrency // max(1, min(len(g) for g in groups))) if groups else 1
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            futures = [pool.submit(self._group, g) for g in groups]

            def done() -> Iterator[list[Generation]]:
                for fut in as_completed(futures):
                    self._check_alive()
                    yield fut.result()

            yield from wall_shares(done())

    def _check_alive(self) -> None:
        # A crashed server turns every later request into a connection error: stop at once with its reason
        # (a harness fault), rather than record failed answers the model never gave.
        why = self.server.died()
        if why:
            raise EngineError(why)
