"""Per-worker cgroups (pids + memory), v2 or v1, wherever the host lets us write them.

RLIMIT_AS bounds one process; a program that forks 60 children could still take 60x that. The
memory cgroup bounds the worker as a whole and the pids cgroup bounds its process count even
where RLIMIT_NPROC does not apply. Both are created *under* the cgroup we already live in, so we
never escape the limits a container or CI runner put on us.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

_ROOT = "/sys/fs/cgroup"


@dataclass
class WorkerCgroup:
    dirs: list[str] = field(default_factory=list)
    procs_files: list[str] = field(default_factory=list)
    oom_files: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)

    def remove(self) -> None:
        for path in reversed(self.dirs):
            try:
                os.rmdir(path)
            except OSError:
                pass


def _own_cgroup_paths() -> dict[str, str]:
    """controller -> our cgroup path, from /proc/self/cgroup ('' key = the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for ctrl in controllers.split(","):
                    out[ctrl] = path
    except OSError:
        pass
    return out


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(value)
        return True
    except OSError:
        return False


def _v2_root() -> str | None:
    if os.path.exists(os.path.join(_ROOT, "cgroup.controllers")):
        return _ROOT
    unified = os.path.join(_ROOT, "unified")
    if os.path.exists(os.path.join(unified, "cgroup.controllers")):
        return unified
    return None


def create(memory_bytes: int, max_pids: int) -> WorkerCgroup:
    cg = WorkerCgroup()
    name = f"codesft-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    own = _own_cgroup_paths()
    want = {"pids": True, "memory": True}
    # cgroup v1 controllers first: on hybrid hosts they are where pids/memory really are.
    for ctrl in ("pids", "memory"):
        base = os.path.join(_ROOT, ctrl)
        if ctrl not in own or not os.path.isdir(base):
            continue
        path = os.path.join(base + own[ctrl], name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        cg.dirs.append(path)
        ok = _write(f"{path}/pids.max", str(max_pids)) if ctrl == "pids" else _write(f"{path}/memory.limit_in_bytes", str(memory_bytes))
        if ok:
            cg.procs_files.append(f"{path}/cgroup.procs")
            want[ctrl] = False
            if ctrl == "memory":
                _write(f"{path}/memory.swappiness", "0")
                cg.oom_files.append(f"{path}/memory.oom_control")
            cg.layers.append(f"cgroup v1 {ctrl}: " + (f"max {max_pids} processes" if ctrl == "pids" else f"{memory_bytes >> 20} MB per worker"))
    v2 = _v2_root()
    if v2 and any(want.values()) and "" in own:
        parent = v2 + own[""]
        available = open(f"{parent}/cgroup.controllers").read().split() if os.path.exists(f"{parent}/cgroup.controllers") else []
        needed = [c for c, missing in want.items() if missing and c in available]
        if needed:
            _write(f"{parent}/cgroup.subtree_control", " ".join(f"+{c}" for c in needed))
            path = os.path.join(parent, name)
            try:
                os.mkdir(path)
                cg.dirs.append(path)
                done = []
                if "pids" in needed and _write(f"{path}/pids.max", str(max_pids)):
                    done.append(f"max {max_pids} processes")
                if "memory" in needed and _write(f"{path}/memory.max", str(memory_bytes)):
                    _write(f"{path}/memory.swap.max", "0")
                    cg.oom_files.append(f"{path}/memory.events")
                    done.append(f"{memory_bytes >> 20} MB per worker")
                if done:
                    cg.procs_files.append(f"{path}/cgroup.procs")
                    cg.layers.append("cgroup v2: " + ", ".join(done))
            except OSError:
                pass
    return cg
