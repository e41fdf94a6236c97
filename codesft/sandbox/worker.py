"""The sandbox worker: a warm fork server that lives in its own namespaces and runs one program per child.

Started by the pool as `python -I -c <boot> '<json config>'` (pool._WORKER_BOOT: the caller's user site,
then `main()`). Set-up happens once per worker (imports, namespaces, a private read-only root); each
program then costs one fork.
No process is ever reused between two programs: every program gets a fresh child, a fresh
tmpfs /work and /tmp, and after it ends every other process in the worker's PID namespace is
killed -- the worker is that namespace's init, so kill(-1) reaches all of them and none of them
can signal it (init ignores signals it has no handler for, and programs run as another uid).

Protocol: one JSON request per line on fd 0, one JSON response per line on fd 1.
"""
# size: the fork server, namespace set-up and the monitor loop share one process's state; split, they would pass it around

from __future__ import annotations

import errno
import json
import os
import resource
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time

# Imported for the children: after pivot_root the project checkout is gone, so everything a
# child needs must already be in memory. Common benchmark imports are preloaded for speed
# (a fork inherits them; a program mutating them only touches its own copy).
from codesft.sandbox import harness, linux, node, sql  # noqa: F401
from codesft.sandbox import rootfs
from codesft.sandbox.rootfs import build_root, write_file
from codesft.sandbox.verdict import verdict
import collections, functools, heapq, itertools, math, random, re, string, typing, bisect, fractions, decimal, hashlib, statistics, copy  # noqa: E401,F401,E501

SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/work",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
_CHANNEL_FD_RANGE = (40, 200)
_KILL_GRACE_S = 0.5


class Worker:
    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.uid = cfg["uid"]
        self.gid = cfg["gid"]
        self.namespaces = cfg["namespaces"]
        self.userns = cfg.get("userns", False)
        self.switch_uid = cfg.get("switch_uid", False)
        self.layers: list[str] = []
        self.oom_fds: list[int] = []
        self.scratch = None
        # The runtime parts a per-program /work or /tmp mount hides, and handles to bind them back from.
        self.shadowed = rootfs.RootPlan((), (), ())
        self.runtime_handles: dict[str, int] = {}
        self.env = dict(SANDBOX_ENV)
        self.node = cfg.get("node")  # node's path and directories (node.node_runtime), None without node
        if cfg.get("user_base"):
            # A program's own `python` subprocess finds the same `pip install --user` site as the worker.
            self.env["PYTHONUSERBASE"] = cfg["user_base"]

    # ---- set-up (once per worker) -------------------------------------------------------
    def setup(self) -> None:
        for path in self.cfg.get("cgroup_procs", []):
            with open(path, "w") as fh:
                fh.write(str(os.getpid()))
        self.layers += self.cfg.get("cgroup_layers", [])
        for path in self.cfg.get("oom_files", []):
            self.oom_fds.append(os.open(path, os.O_RDONLY))
        try:
            # The OOM killer should pick a program, never the worker that judges it.
            write_file("/proc/self/oom_score_adj", "-1000")
            self.layers.append("worker exempt from the OOM killer")
        except OSError:
            pass
        if self.namespaces:
            self._enter_namespaces()
        else:
            # Orphans of a program must come back to us to be reaped, not to the host's init.
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
            self.scratch = tempfile.mkdtemp(prefix="codesft-sbx-")
            os.chmod(self.scratch, 0o711)
            self.layers.append("no namespaces: programs see the host filesystem and network (rlimits backend)")
        if self.switch_uid:
            self.layers.append(f"programs run as uid {self.uid} (no capabilities, own RLIMIT_NPROC budget)")
        elif self.userns:
            self.layers.append("programs run as uid 0 of a user namespace with every capability dropped")
        self.layers.append("rlimits: CPU, address space, file size, open files, processes, stack, no core dumps")
        self.layers.append("scrubbed environment; fresh process per program; verdict from a nonce-tagged private pipe")

    def _enter_namespaces(self) -> None:
        flags = (linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC
                 | linux.CLONE_NEWUTS)
        real_uid, real_gid = os.getuid(), os.getgid()
        if self.userns:
            flags |= linux.CLONE_NEWUSER
        linux.unshare(flags)
        if self.userns:
            write_file("/proc/self/setgroups", "deny")
            write_file("/proc/self/uid_map", f"0 {real_uid} 1")
            write_file("/proc/self/gid_map", f"0 {real_gid} 1")
        # The PID namespace applies to children: fork once and let the child be its init.
        child = os.fork()
        if child:
            # The outer process only mirrors the init's fate; the pool kills it to kill the worker.
            while True:
                try:
                    _, status = os.waitpid(child, 0)
                    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
                except InterruptedError:
                    continue
        # If the outer process is killed (the pool's way of stopping a worker), the init and with
        # it the whole namespace dies. (getppid() is 0 here: the parent is outside our namespace.)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        self.layers.append("PID namespace (the worker is init; leftover processes are killed after every program)")
        self.layers.append("network namespace with no interfaces up: no network, loopback included")
        self.layers.append("IPC and UTS namespaces")
        if self.userns:
            self.layers.append("user namespace (unprivileged host)")
        linux.sethostname("sandbox")
        root_plan = rootfs.plan(self.cfg.get("hide", ()), (self.node or {}).get("dirs", ()))
        self.layers += build_root(self.uid, self.gid, root_plan)
        self.shadowed = rootfs.under_program_mounts(root_plan)
        self.runtime_handles = rootfs.open_handles(self.shadowed.dirs)
        # Programs run as another uid; non-dumpable stops /proc/1/mem and ptrace even for same-uid setups.
        linux.prctl(linux.PR_SET_DUMPABLE, 0)

    # ---- one program -------------------------------------------------------------------------
    def _prepare_dirs(self, limits: dict) -> tuple[str, str]:
        size = f"size={int(limits['max_file_mb'])}m"
        if self.namespaces:
            owner = f"uid={self.uid},gid={self.gid}"
            linux.mount("tmpfs", "/work", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"{size},mode=700,{owner}")
            linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"{size},mode=1777")
            for target in rootfs.PROGRAM_MOUNTS:  # a runtime living under /tmp or /work comes back on top
                rootfs.restore_runtime(target, self.shadowed, self.runtime_handles)
            linux.mount("tmpfs", "/dev/shm", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"{size},mode=1777")
            return "/work", "/tmp"
        work = tempfile.mkdtemp(dir=self.scratch, prefix="work-")
        tmp = tempfile.mkdtemp(dir=self.scratch, prefix="tmp-")
        os.chmod(tmp, 0o1777)
        if self.switch_uid:
            os.chown(work, self.uid, self.gid)
        return work, tmp

    def _cleanup_dirs(self, work: str, tmp: str) -> None:
        if self.namespaces:
            for target in ("/work", "/tmp", "/dev/shm"):
                try:
                    linux.umount(target)
                except OSError:
                    pass
        else:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)

    def _child(self, program: dict, limits: dict, nonce: str, fds: dict, work: str, tmp: str) -> None:
        try:
            os.setsid()
            try:
                write_file("/proc/self/oom_score_adj", "1000")
            except OSError:
                pass
            os.dup2(fds["stdin"], 0)
            os.dup2(fds["stdout"], 1)
            os.dup2(fds["stderr"], 2)
            os.dup2(fds["channel"], fds["channel_target"])
            os.closerange(3, fds["channel_target"])
            os.closerange(fds["channel_target"] + 1, 65536)
            cpu = int(limits["cpu_s"]) + 1
            mb = 1024 * 1024
            js = program.get("language") == "javascript"
            # node's own values for two limits (node.py says why); every other limit is the same for all languages.
            address_space = (node.as_limit_mb(limits["memory_mb"]) if js else limits["memory_mb"]) * mb
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_AS, (address_space,) * 2)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_file_mb"] * mb,) * 2)
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits["max_open_files"],) * 2)
            resource.setrlimit(resource.RLIMIT_STACK, node.stack_limit(limits["stack_mb"]) if js
                               else (limits["stack_mb"] * mb,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if self.switch_uid:
                os.setgroups([])
                os.setresgid(self.gid, self.gid, self.gid)
                os.setresuid(self.uid, self.uid, self.uid)
            elif self.userns:
                linux.drop_all_capabilities()
            # After the uid switch: for root the limit would not apply (root ignores RLIMIT_NPROC).
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"],) * 2)
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
            os.chdir(work)
            os.environ.clear()
            os.environ.update(self.env, HOME=work, TMPDIR=tmp)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            if js:  # replaces this process on success
                node.exec_node(program, limits, nonce, fds["channel_target"], self.node, dict(os.environ))
        except BaseException as exc:  # noqa: BLE001 - set-up failure must not look like a program verdict
            try:
                info = str(exc) if isinstance(exc, node.NodeMissing) else repr(exc)
                os.write(fds["channel_target"], f"{nonce}\tsetup_error\t-1\t{info}\n".encode())
            finally:
                os._exit(121)
        if program.get("language") == "sql":
            sql.execute(program, nonce, fds["channel_target"])
        harness.execute(program, nonce, fds["channel_target"])

    def run_one(self, program: dict, limits: dict) -> dict:
        nonce = secrets.token_hex(16)
        work, tmp = self._prepare_dirs(limits)
        pipes = {name: os.pipe() for name in ("stdin", "stdout", "stderr", "channel")}
        fds = {"stdin": pipes["stdin"][0], "stdout": pipes["stdout"][1], "stderr": pipes["stderr"][1],
               "channel": pipes["channel"][1], "channel_target": secrets.randbelow(_CHANNEL_FD_RANGE[1] - _CHANNEL_FD_RANGE[0]) + _CHANNEL_FD_RANGE[0]}
        oom_before = self._oom_count()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            self._child(program, limits, nonce, fds, work, tmp)
            os._exit(122)
        for name in ("stdout", "stderr", "channel"):
            os.close(pipes[name][1])
        os.close(pipes["stdin"][0])
        try:
            outcome = self._monitor(pid, pipes, program.get("stdin") or "", limits, start)
        finally:
            self._kill_leftovers(pid)
            for name in ("stdout", "stderr", "channel"):
                os.close(pipes[name][0])
            self._cleanup_dirs(work, tmp)
        outcome["oom_killed"] = self._oom_count() > oom_before
        return verdict(outcome, nonce, program, limits)

    # size: one poll loop over the program's pipes, the channel and the clock; its state is local to the loop
    def _monitor(self, pid: int, pipes: dict, stdin: str, limits: dict, start: float) -> dict:
        cap = limits["max_output_bytes"]
        bufs = {"stdout": bytearray(), "stderr": bytearray(), "channel": bytearray()}
        cut = {"stdout": False, "stderr": False, "channel": False}
        readers = {pipes[name][0]: name for name in bufs}
        for fd in readers:
            os.set_blocking(fd, False)
        stdin_fd = pipes["stdin"][1]
        pending = stdin.encode("utf-8")
        os.set_blocking(stdin_fd, False)
        if not pending:
            os.close(stdin_fd)
            stdin_fd = -1
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in readers:
            poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        if stdin_fd >= 0:
            poller.register(stdin_fd, select.POLLOUT)
        deadline = start + limits["timeout_s"]
        timed_out = False
        status = None
        rusage = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for fd, event in poller.poll(min(remaining, 1.0) * 1000):
                if fd == pidfd:
                    continue
                if fd == stdin_fd:
                    try:
                        written = os.write(stdin_fd, pending[:65536])
                        pending = pending[written:]
                    except OSError:
                        pending = b""
                    if not pending:
                        poller.unregister(stdin_fd)
                        os.close(stdin_fd)
                        stdin_fd = -1
                    continue
                self._drain(fd, readers, bufs, cut, cap, poller)
            _, wstatus, ru = os.wait4(pid, os.WNOHANG)
            if _ != 0:
                status, rusage = wstatus, ru
                break
        if status is None:
            os.kill(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
        runtime = time.monotonic() - start
        # Collect what is still in the pipes; descendants holding them open are killed next.
        self._kill_leftovers(pid)
        end = time.monotonic() + _KILL_GRACE_S
        while readers and time.monotonic() < end:
            for fd, _event in poller.poll(50):
                if fd in readers:
                    self._drain(fd, readers, bufs, cut, cap, poller)
        if stdin_fd >= 0:
            os.close(stdin_fd)
        os.close(pidfd)
        return {"status": status, "rusage": rusage, "timed_out": timed_out, "runtime": runtime,
                "stdout": bytes(bufs["stdout"]), "stderr": bytes(bufs["stderr"]), "channel": bytes(bufs["channel"]),
                "stdout_cut": cut["stdout"], "stderr_cut": cut["stderr"]}

    @staticmethod
    def _drain(fd: int, readers: dict, bufs: dict, cut: dict, cap: int, poller) -> None:
        name = readers.get(fd)
        if name is None:
            return
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            poller.unregister(fd)
            del readers[fd]
            return
        room = cap - len(bufs[name])
        if len(data) > room:
            cut[name] = True
            data = data[:max(room, 0)]
        bufs[name] += data

    def _kill_leftovers(self, pid: int) -> None:
        """Kill every process the program left behind (daemons, double forks, setsid children)."""
        if self.namespaces:
            try:
                os.kill(-1, signal.SIGKILL)  # as the PID namespace's init: everything but us
            except ProcessLookupError:
                pass
        elif self.switch_uid:
            killer = os.fork()
            if killer == 0:  # a process with the program's uid may signal exactly the program's processes
                try:
                    os.setresgid(self.gid, self.gid, self.gid)
                    os.setresuid(self.uid, self.uid, self.uid)
                    for _ in range(3):
                        try:
                            os.kill(-1, signal.SIGKILL)
                        except ProcessLookupError:
                            break
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        # Blocking reap only where every leftover was just SIGKILLed; with only a process-group
        # kill an escaped daemon could otherwise block the worker forever.
        self._reap(block=self.namespaces or self.switch_uid)

    @staticmethod
    def _reap(block: bool) -> None:
        while True:
            try:
                reaped, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if reaped == 0:
                return

    def _oom_count(self) -> int:
        total = 0
        for fd in self.oom_fds:
            try:
                text = os.pread(fd, 4096, 0).decode()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    total += int(value)
        return total

def _serve(worker: Worker, requests, out_fd: int) -> None:
    for line in requests:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            resp = worker.run_one(msg["program"], msg["limits"])
        except Exception as exc:  # noqa: BLE001 - the worker's own fault: report it, keep serving
            resp = {"id": msg["program"].get("id", "?"), "status": "error", "reason": f"sandbox worker error: {exc!r}"}
        data = (json.dumps(resp) + "\n").encode()
        while data:
            try:
                n = os.write(out_fd, data)
            except InterruptedError:
                continue
            data = data[n:]


def main() -> None:
    cfg = json.loads(sys.argv[1])
    # Keep the protocol fds away from 0/1 so nothing printed by accident corrupts the protocol.
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    worker = Worker(cfg)
    try:
        worker.setup()
    except Exception as exc:  # noqa: BLE001
        os.write(out_fd, (json.dumps({"ready": False, "error": repr(exc)}) + "\n").encode())
        os._exit(2)
    os.write(out_fd, (json.dumps({"ready": True, "layers": worker.layers}) + "\n").encode())
    requests = os.fdopen(in_fd, "r", encoding="utf-8")
    try:
        _serve(worker, requests, out_fd)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
    os._exit(0)


if __name__ == "__main__":
    main()
