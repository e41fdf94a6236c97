"""The parent side: start warm workers, hand them programs, enforce a watchdog, stream results.

The parent never runs untrusted code. It decides nothing a program could influence except
through the worker's verdict, and it outlives anything a program does: workers run in their own
session and PID namespace, so killing "the parent", the process group or every visible process
from inside a program reaches none of the pool's processes.
"""

from __future__ import annotations

import json
import os
import queue
import site
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal

from codesft.sandbox import cgroups
from codesft.sandbox.node import node_runtime
from codesft.sandbox.types import Limits, Program, Result

Backend = Literal["auto", "namespaces", "rlimits"]
_WATCHDOG_GRACE_S = 10.0
_UID_BASE = 61000
_WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
# The worker runs isolated (-I: no PYTHON* variables, no cwd, no user site) so the caller's environment
# variables cannot change what programs import. The user site is the one part of the environment -I
# drops that belongs to it (`pip install --user`, codesft included): it is added back, in the caller's
# order (before the other site-packages), with its .pth files, before codesft is imported.
_WORKER_BOOT = """import json, site, sys
cfg = json.loads(sys.argv[1])
before = list(sys.path)
for d in cfg.get("site_dirs", []):
    site.addsitedir(d)
added = [p for p in sys.path if p not in before]
first_site = next((i for i, p in enumerate(before) if p in site.getsitepackages()), len(before))
sys.path[:] = before[:first_site] + added + before[first_site:]
from codesft.sandbox.worker import main
main()
"""
# Test-only fault injection: paths masked inside the sandbox. It can only take files away from programs,
# so it can make a canary fail, never make anything pass. Not reachable from the CLI or the environment.
_HIDE_FOR_TESTS: tuple[str, ...] = ()


class SandboxUnavailable(RuntimeError):
    """The requested isolation cannot be set up on this host."""


@dataclass(frozen=True)
class Isolation:
    backend: str
    layers: tuple[str, ...]
    missing: tuple[str, ...]

    def summary(self) -> str:
        text = f"sandbox backend '{self.backend}': " + "; ".join(self.layers)
        if self.missing:
            text += " | NOT in force: " + "; ".join(self.missing)
        return text


def _worker_config(backend: str, index: int, cg: cgroups.WorkerCgroup) -> dict:
    root = os.geteuid() == 0
    uid = _UID_BASE + (os.getpid() % 1000) * 8 + index if root else 0
    return {
        "namespaces": backend == "namespaces",
        "userns": backend == "namespaces" and not root,
        "switch_uid": root,
        "uid": uid,
        "gid": uid,
        "cgroup_procs": cg.procs_files,
        "cgroup_layers": cg.layers,
        "oom_files": cg.oom_files,
        **_user_site(),
        "node": node_runtime(),  # found on the caller's PATH; None: JavaScript programs get an `error` result
        "hide": list(_HIDE_FOR_TESTS),
    }


def _user_site() -> dict:
    """The caller's user site-packages, when it is part of the caller's import path."""
    user_site = site.getusersitepackages()
    if site.ENABLE_USER_SITE and user_site in sys.path and os.path.isdir(user_site):
        return {"site_dirs": [user_site], "user_base": site.getuserbase()}
    return {}


class _Worker:
    def __init__(self, backend: str, index: int, limits: Limits) -> None:
        self.backend = backend
        self.index = index
        self.limits = limits  # its cgroup is sized for these: a program under other limits gets another worker
        # Worker-wide bounds: the worker itself plus one program tree, with headroom for the worker's own RSS.
        self.cgroup = cgroups.create(memory_bytes=(limits.memory_mb + 256) << 20, max_pids=limits.max_processes + 8)
        cfg = _worker_config(backend, index, self.cgroup)
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER_BOOT, json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_WORKER_ENV, cwd="/", start_new_session=True, close_fds=True,
        )
        ready = self._read_line(timeout=60.0)
        if ready is None or not ready.get("ready"):
            self.close()
            err = (ready or {}).get("error", "worker did not start")
            raise SandboxUnavailable(f"backend '{backend}' could not start: {err}")
        self.layers: list[str] = ready["layers"]

    def _read_line(self, timeout: float) -> dict | None:
        box: list = []

        def reader() -> None:
            try:
                box.append(self.proc.stdout.readline())
            except (OSError, ValueError):
                box.append(b"")

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(timeout)
        if not box or not box[0]:
            return None
        return json.loads(box[0])

    def execute(self, program: Program, limits: Limits) -> Result | None:
        """None when the worker died or hung: the caller restarts it."""
        lim = limits.model_dump()
        lim["cpu_s"] = limits.effective_cpu_s
        msg = json.dumps({"program": program.model_dump(), "limits": lim}) + "\n"
        try:
            self.proc.stdin.write(msg.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return None
        resp = self._read_line(timeout=limits.timeout_s + _WATCHDOG_GRACE_S)
        if resp is None:
            return None
        return Result.model_validate(resp)

    def close(self) -> None:
        try:
            self.proc.kill()  # the worker's init dies with it (PR_SET_PDEATHSIG), and with it every program
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.cgroup.remove()


_probe_cache: dict[str, Isolation] = {}
_FULL_LAYERS = ("PID namespace", "network namespace", "private mount tree", "programs run as uid")


def probe(backend: Backend = "auto", limits: Limits | None = None) -> Isolation:
    """Start one worker with the requested (or strongest available) backend and report what it enforces.
    'auto' falls back from namespaces to rlimits only with the fallback named in `missing`."""
    if backend in _probe_cache:
        return _probe_cache[backend]
    limits = limits or Limits()
    order = ["namespaces", "rlimits"] if backend == "auto" else [backend]
    errors = []
    for candidate in order:
        try:
            worker = _Worker(candidate, 0, limits)
        except SandboxUnavailable as exc:
            errors.append(str(exc))
            continue
        worker.close()
        missing = [f"{want} (not available: {'; '.join(errors) or 'not supported by this backend'})"
                   for want in _FULL_LAYERS if not any(want in layer for layer in worker.layers)]
        if os.geteuid() != 0:
            missing.append("separate uid for programs (not root: programs keep the caller's uid, without capabilities)")
        iso = Isolation(candidate, tuple(worker.layers), tuple(missing))
        _probe_cache[backend] = iso
        return iso
    raise SandboxUnavailable("; ".join(errors))


class SandboxPool:
    """Workers for one or more `imap` calls.

    Used bare, workers live only while an `imap` is being consumed. Used as a context manager (or closed with
    `close()`), the pool is one per run: workers stay warm between `imap` calls (curate's verify batches,
    faults' batches, eval's limit groups), so a run does not pay a worker start per batch. A warm worker is
    reused only under the limits it was started with. One `imap` at a time per pool."""

    def __init__(self, limits: Limits | None = None, workers: int | None = None, backend: Backend = "auto") -> None:
        self.limits = limits or Limits()
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self.isolation = probe(backend, self.limits)
        self.backend = self.isolation.backend
        self._keep_warm = False
        self._idle: dict[int, _Worker] = {}  # worker index -> warm worker (the index decides its uid)
        self._idle_lock = threading.Lock()
        self.workers_started = 0  # for the one-pool-per-run checks

    def __enter__(self) -> "SandboxPool":
        self._keep_warm = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the warm workers; the pool may still be used bare afterwards."""
        self._keep_warm = False
        with self._idle_lock:
            idle, self._idle = list(self._idle.values()), {}
        for worker in idle:
            worker.close()

    def _take(self, index: int, limits: Limits) -> _Worker:
        with self._idle_lock:
            worker = self._idle.pop(index, None)
        if worker is not None and worker.limits == limits and worker.proc.poll() is None:
            return worker  # warm, under the same limits, and alive (a dead one would charge its death to a program)
        if worker is not None:
            worker.close()
        with self._idle_lock:
            self.workers_started += 1
        return _Worker(self.backend, index, limits)

    def _release(self, worker: _Worker) -> None:
        if self._keep_warm:
            with self._idle_lock:
                self._idle[worker.index] = worker
        else:
            worker.close()

    def imap(self, programs: Iterable[Program | dict], limits: Limits | None = None) -> Iterator[Result]:
        limits = limits or self.limits
        source = iter(programs)
        lock = threading.Lock()
        results: queue.Queue = queue.Queue(maxsize=self.n_workers * 4)
        done = object()
        stop = threading.Event()

        def next_program():
            with lock:
                return next(source, None)

        def loop(index: int) -> None:
            worker = None
            try:
                while not stop.is_set():
                    item = next_program()
                    if item is None:
                        break
                    program, early = _coerce(item)
                    if early is not None:
                        results.put(early)
                        continue
                    if worker is None:
                        worker = self._take(index, limits)
                    result, worker = _execute(worker, program, limits)
                    results.put(result)
            except BaseException as exc:  # noqa: BLE001 - surface in the consumer thread
                results.put(exc)
            finally:
                if worker is not None:
                    self._release(worker)
                results.put(done)

        threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(self.n_workers)]
        for t in threads:
            t.start()
        finished = 0
        try:
            while finished < len(threads):
                item = results.get()
                if item is done:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):
                try:
                    results.get(timeout=0.1)
                except queue.Empty:
                    pass


def _execute(worker: _Worker, program: Program, limits: Limits) -> tuple[Result, _Worker | None]:
    """Run one program; a hung or dead worker is closed (the caller starts another) and the program is
    charged a timeout or an error."""
    started = time.monotonic()
    result = worker.execute(program, limits)
    if result is not None:
        return result, worker
    worker.close()
    elapsed = time.monotonic() - started
    timed_out = elapsed >= limits.timeout_s
    return Result(id=program.id, status="timeout" if timed_out else "error",
                  reason="sandbox worker stopped responding" if timed_out
                  else "sandbox worker died while running the program",
                  runtime_s=round(elapsed, 4)), None


def _coerce(item: Program | dict) -> tuple[Program | None, Result | None]:
    if isinstance(item, Program):
        return item, None
    try:
        return Program.model_validate(item), None
    except Exception as exc:  # noqa: BLE001
        pid = str(item.get("id", "?")) if isinstance(item, dict) else "?"
        return None, Result(id=pid, status="error", reason=f"invalid program: {exc}")


def run_many(programs: Iterable[Program | dict], limits: Limits | None = None, workers: int | None = None,
             backend: Backend = "auto") -> Iterator[Result]:
    """Run programs in parallel sandboxes; yields one Result per program, in completion order. Starts its own
    workers: a caller with several batches holds one `SandboxPool` instead."""
    with SandboxPool(limits, workers, backend) as pool:
        yield from pool.imap(programs)


def run(program: Program | dict, limits: Limits | None = None, backend: Backend = "auto") -> Result:
    """Run one program in a fresh sandbox and return its Result."""
    return next(iter(run_many([program], limits, workers=1, backend=backend)))
