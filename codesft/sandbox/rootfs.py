"""The worker's private filesystem: a tmpfs root holding only a read-only runtime, then pivot_root into it.

The runtime is whatever environment codesft runs from -- a venv under /tmp, /opt, a home or the checkout,
conda, a `pip install --user` site, directories added by `.pth` files -- plus node's binary and shared-library
directories where they lie outside /usr and /lib* (node.py), bound read-only at its own path,
so `sys.executable`, shebangs and absolute paths in `.pth` files keep working inside. Everything else of
the host (its /tmp, homes, the project checkout) is absent.

Why handles: the private root is a tmpfs mounted over /tmp, and each program later gets fresh tmpfs
/work and /tmp of its own. A runtime living under one of those paths would be hidden by the new mount,
so every runtime directory is opened (O_PATH) before anything is mounted over it and bound from that
handle (/proc/self/fd/N), both for the root and again after each per-program mount.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Iterable

from codesft.sandbox import linux

# Per-program tmpfs mounts (see worker._prepare_dirs): runtime directories beneath them are bound again
# on top of each fresh mount.
PROGRAM_MOUNTS = ("/work", "/tmp")
_HOST_SYSTEM = ("/usr", "/proc", "/sys", "/dev")


def write_file(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def _bind(src: str, dst: str, readonly: bool = True) -> None:
    linux.mount(src, dst, None, linux.MS_BIND | linux.MS_REC)
    if readonly:
        flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV
        # In a user namespace a bind cannot drop the source's locked flags; keep noexec where it was set.
        if os.statvfs(dst).f_flag & os.ST_NOEXEC:
            flags |= linux.MS_NOEXEC
        linux.mount(None, dst, None, flags)


def source_checkout() -> str | None:
    """The directory codesft is imported from when that is a source tree (editable install), else None.
    Its contents stay invisible to programs even when a runtime directory contains it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.basename(root) in ("site-packages", "dist-packages"):
        return None
    return os.path.realpath(root)


@dataclass(frozen=True)
class RootPlan:
    """What the private root shows of the host, decided before anything is mounted."""

    dirs: tuple[str, ...]                 # bound read-only at their own (real) path
    masked: tuple[str, ...]               # inside those, covered by an empty read-only tmpfs
    links: tuple[tuple[str, str], ...]    # (path, target): symlinks on the way to a runtime path, recreated


def runtime_dirs(candidates: Iterable[str], checkout: str | None, prefixes: Iterable[str] = ()) -> list[str]:
    """Top-level directories to bind read-only: existing candidates, minus the host's system trees (bound
    separately), minus the checkout, and minus its ancestors unless they are an interpreter prefix (a venv
    that holds the checkout, as `pip install -e git+...` makes) -- then the checkout is masked instead.
    Nested entries fold into their parent."""
    real_prefixes = {os.path.realpath(p) for p in prefixes}
    out: list[str] = []
    for path in sorted({os.path.realpath(c) for c in candidates if c and os.path.isdir(c)}):
        if path == "/" or any(_under(path, s) for s in _HOST_SYSTEM):
            continue
        if checkout is not None and _under(checkout, path) and (path == checkout or path not in real_prefixes):
            continue
        if any(_under(path, o) for o in out):
            continue
        out.append(path)
    return out


def environment_dirs() -> list[str]:
    """What this interpreter imports from: its prefixes, its executable's directories and every directory
    on sys.path (site-packages, the user site when the pool added it, `.pth` entries)."""
    exe = sys.executable
    path = [p for p in sys.path if p]
    return [*_prefixes(), os.path.dirname(exe), os.path.dirname(os.path.realpath(exe)), *path,
            *symlinked_entries(path, source_checkout())]


def _installed(path: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.split(os.sep))


def symlinked_entries(directories: Iterable[str], checkout: str | None) -> list[str]:
    """Where the symlinked entries of import directories really live: a site-packages whose packages are
    links into a cache or another environment (uv's symlink link mode, a venv assembled from links) imports
    them from there, so those targets are runtime too. A linked file brings its directory. Inside the source
    checkout only installed environments count (a venv there): the checkout's own links (its `examples`)
    and its sources stay hidden."""
    found: set[str] = set()
    for directory in directories:
        real = os.path.realpath(directory)
        if checkout is not None and _under(real, checkout) and not _installed(real):
            continue
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_symlink():
                continue
            target = os.path.realpath(entry.path)
            target = target if os.path.isdir(target) else os.path.dirname(target)
            if checkout is None or not _under(target, checkout) or _installed(target):
                found.add(target)
    return sorted(found)


def _prefixes() -> list[str]:
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]


def symlinks_on_the_way(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(link, target) for each symlink among the components of the given paths, so that a runtime reached
    through a link on the host (sys.executable under /home -> /data/home) has the same path inside."""
    found: dict[str, str] = {}
    for path in paths:
        if not path or not os.path.exists(path):
            continue
        current = ""
        for part in os.path.abspath(path).split(os.sep)[1:]:
            current += os.sep + part
            if os.path.islink(current):
                found[current] = os.readlink(current)
    return sorted(found.items())


def plan(hidden: Iterable[str] = (), extra: Iterable[str] = ()) -> RootPlan:
    """The root for this interpreter. `hidden`: extra paths to mask (the pool's test-only fault
    injection; masking can only take files away from programs, never make one pass). `extra`: more runtime
    directories, bound like the interpreter's (node's binary and library directories, `node.node_runtime`)."""
    checkout = source_checkout()
    candidates = [*environment_dirs(), *extra]
    dirs = runtime_dirs(candidates, checkout, _prefixes())
    wanted = ([checkout] if checkout else []) + [os.path.realpath(h) for h in hidden]
    masked = sorted({m for m in wanted if os.path.isdir(m) and any(_under(m, d) for d in dirs)})
    links = [(link, target) for link, target in symlinks_on_the_way(candidates)
             if not any(_under(link, d) for d in (*dirs, *_HOST_SYSTEM))]
    return RootPlan(tuple(dirs), tuple(masked), tuple(links))


def open_handles(paths: Iterable[str]) -> dict[str, int]:
    return {p: os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in paths}


def bind_from_handle(fd: int, dst: str) -> None:
    os.makedirs(dst, mode=0o755, exist_ok=True)
    _bind(f"/proc/self/fd/{fd}", dst)


def make_links(links: Iterable[tuple[str, str]], root: str = "") -> None:
    for link, target in links:
        if os.path.lexists(root + link):
            continue
        os.makedirs(os.path.dirname(root + link), mode=0o755, exist_ok=True)
        os.symlink(target, root + link)


def _mask(path: str) -> None:
    linux.mount("tmpfs", path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_RDONLY, "size=4k,mode=755")


def build_root(uid: int, gid: int, root_plan: RootPlan) -> list[str]:
    """Private mount tree: tmpfs root, read-only /usr and runtime, synthesized /etc, minimal /dev, new /proc."""
    layers = []
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    handles = open_handles(root_plan.dirs)  # before the tmpfs below can hide a runtime that lives under /tmp
    root = "/tmp"  # mounting over /tmp is private to this mount namespace; the host's /tmp is untouched
    linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=16m,mode=755")
    for name in ("usr", "etc", "dev", "proc", "tmp", "work", ".old"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    _bind("/usr", f"{root}/usr")
    for link in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        host = f"/{link}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{link}")
        elif os.path.isdir(host):
            os.makedirs(f"{root}/{link}", exist_ok=True)
            _bind(host, f"{root}/{link}")
    for path, fd in handles.items():
        bind_from_handle(fd, root + path)
        os.close(fd)
    for path in root_plan.masked:
        _mask(root + path)
    make_links(root_plan.links, root)
    layers.append("read-only runtime: /usr + " + (", ".join(root_plan.dirs) or "nothing else")
                  + (f" (hidden inside: {', '.join(root_plan.masked)})" if root_plan.masked else ""))
    # /etc: synthesized, so host accounts, hosts and secrets are not visible.
    write_file(f"{root}/etc/passwd", f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:sandbox:/work:/bin/sh\n")
    write_file(f"{root}/etc/group", f"root:x:0:\nsandbox:x:{gid}:\n")
    write_file(f"{root}/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    write_file(f"{root}/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n")
    write_file(f"{root}/etc/resolv.conf", "")
    for name in ("ld.so.cache", "ld.so.conf", "localtime"):
        host = f"/etc/{name}"
        if os.path.isfile(host):
            shutil.copyfile(host, f"{root}/etc/{name}")
    linux.mount("tmpfs", f"{root}/dev", "tmpfs", linux.MS_NOSUID, "size=64k,mode=755")
    for dev in ("null", "zero", "full", "random", "urandom"):
        open(f"{root}/dev/{dev}", "w").close()
        _bind(f"/dev/{dev}", f"{root}/dev/{dev}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(f"{root}/dev/shm")
    linux.mount("proc", f"{root}/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    os.chdir(root)
    linux.pivot_root(".", ".old")
    os.chdir("/")
    linux.umount("/.old")
    os.rmdir("/.old")
    linux.mount(None, "/", None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)
    layers.append("private mount tree (pivot_root): host home, project checkout and host /tmp not mounted")
    return layers


def under_program_mounts(root_plan: RootPlan) -> RootPlan:
    """The part of the plan that a per-program tmpfs (/work, /tmp) hides and that must be put back on it."""
    def hidden(path: str) -> bool:
        return any(_under(path, m) for m in PROGRAM_MOUNTS)

    return RootPlan(tuple(d for d in root_plan.dirs if hidden(d)), (),
                    tuple(link for link in root_plan.links if hidden(link[0])))


def restore_runtime(mountpoint: str, shadowed: RootPlan, handles: dict[str, int]) -> None:
    """After a fresh tmpfs was mounted at `mountpoint`: bind the runtime directories beneath it again, from
    the handles the worker opened after pivot_root (the recursive bind carries their masks along)."""
    for path in shadowed.dirs:
        if _under(path, mountpoint):
            bind_from_handle(handles[path], path)
    make_links(link for link in shadowed.links if _under(link[0], mountpoint))
