"""JavaScript programs: node, found on the caller's PATH, exec'd by the sandboxed child with the JS harness.

Parent side (the pool, before a worker starts): `node_runtime()` finds the node binary and, with `ldd`, the
directories of the shared libraries it loads. The worker binds those that lie outside `/usr` and `/lib*` into
its private root, read-only, the way it binds Python's runtime (rootfs.py), so a node under /opt, a home
(nvm) or a venv runs inside the sandbox too. No node on the machine: a JavaScript program gets an `error`
result (the harness's fault), never a verdict.

Child side (`exec_node`): after the worker's child has entered its limits and dropped its uid -- the same
steps as for a Python program -- it writes the program and the per-program nonce into an in-memory file
(memfd), and execs node with `harness.js`, which reads that file, closes it and runs the program. The nonce
is never in node's argv or environment (both readable by the program through /proc/self).

Limits that need a node-specific value (docs/sandbox.md, "Languages"):
- `memory_mb` bounds V8's heap (`--max-old-space-size`); RLIMIT_AS gets `memory_mb + NODE_RESERVE_MB`, because
  V8 and node's threads reserve address space they never touch (about 0.7 GB at start), and a plain
  `memory_mb` address space would leave a small limit unable to start node at all. The worker's memory cgroup
  (`memory_mb + 256` MB for everything it runs) is the same as for Python.
- `stack_mb` stays the hard RLIMIT_STACK, but the soft limit is at most 8 MB: glibc sizes every thread's stack
  by it, and node starts about ten threads. Deep recursion ends in V8's own stack check (RangeError).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

# Read when the worker imports this module, before its root is private (the checkout is invisible after).
HARNESS = Path(__file__).with_name("harness.js").read_text(encoding="utf-8")
NODE_RESERVE_MB = 1024
THREAD_STACK_MB = 8
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class NodeMissing(RuntimeError):
    """node is not installed where the caller can find it: a JavaScript program cannot run (harness fault)."""


def find_node(path: str | None = None) -> str | None:
    """The real path of `node` on `path` (default: the caller's PATH), or None."""
    found = shutil.which("node", path=os.environ.get("PATH", os.defpath) if path is None else path)
    return os.path.realpath(found) if found else None


def shared_libraries(binary: str) -> list[str]:
    """The shared libraries `binary` loads, as `ldd` resolves them (real paths); [] when ldd is missing."""
    ldd = shutil.which("ldd") or "/usr/bin/ldd"
    if not os.path.exists(ldd):
        return []
    try:
        out = subprocess.run([ldd, binary], capture_output=True, text=True, timeout=30, env={"LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({os.path.realpath(m.group(1)) for m in _LDD_PATH.finditer(out) if os.path.exists(m.group(1))})


@functools.lru_cache(maxsize=8)
def _runtime(path_env: str) -> dict | None:
    node = find_node(path_env)
    if node is None:
        return None
    dirs = {os.path.dirname(node), *(os.path.dirname(lib) for lib in shared_libraries(node))}
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    return {"path": node, "dirs": sorted(dirs), "version": version or "unknown version"}


def node_runtime() -> dict | None:
    """{"path": node's real path, "dirs": directories the sandbox must show for it to run, "version"}, or None
    when there is no node on the caller's PATH. The worker binds the dirs that are not already part of its root."""
    return _runtime(os.environ.get("PATH", os.defpath))


def as_limit_mb(memory_mb: int) -> int:
    return memory_mb + NODE_RESERVE_MB


def stack_limit(stack_mb: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_STACK in bytes for node."""
    mb = 1024 * 1024
    return min(stack_mb, THREAD_STACK_MB) * mb, stack_mb * mb


def exec_node(program: dict, limits: dict, nonce: str, channel_fd: int, runtime: dict | None, env: dict) -> NoReturn:
    """Replace this (already sandboxed) child with node running the harness. Raises NodeMissing or OSError when
    node cannot be started; the caller reports that as the sandbox's fault."""
    if runtime is None:
        raise NodeMissing("node (Node.js) is not installed or not on PATH, so JavaScript programs cannot run; "
                          "install Node.js 18 or later")
    spec = {"nonce": nonce, "channel": channel_fd, "setup": program.get("setup"), "code": program["code"],
            "test": program.get("test"), "tests": program.get("tests"), "entry_point": program.get("entry_point")}
    fd = os.memfd_create("codesft-program", 0)
    data = json.dumps(spec).encode("utf-8")
    while data:
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    argv = [runtime["path"], f"--max-old-space-size={int(limits['memory_mb'])}", "-e", HARNESS, str(fd)]
    os.execve(runtime["path"], argv, env)
