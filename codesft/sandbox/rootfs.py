"""The worker's private filesystem: a tmpfs root holding only a read-only runtime, then pivot_root into it."""

from __future__ import annotations

import os
import shutil
import sys

from codesft.sandbox import linux


def write_file(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _bind(src: str, dst: str, readonly: bool = True) -> None:
    linux.mount(src, dst, None, linux.MS_BIND | linux.MS_REC)
    if readonly:
        linux.mount(None, dst, None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)


def _runtime_dirs() -> list[str]:
    """Directories the read-only runtime needs: the interpreter and its library paths.
    The project checkout is left out even when it is on sys.path (editable installs)."""
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    candidates.update(p for p in sys.path if p)
    out: list[str] = []
    for path in sorted({os.path.realpath(c) for c in candidates if os.path.isdir(c)}):
        if path == pkg_root or pkg_root.startswith(path + os.sep) or path == "/":
            continue
        if path.startswith(("/usr/", "/proc/", "/sys/", "/dev/")) or path == "/usr":
            continue
        if any(path == o or path.startswith(o + os.sep) for o in out):
            continue
        out.append(path)
    return out


def build_root(uid: int, gid: int) -> list[str]:
    """Private mount tree: tmpfs root, read-only /usr and runtime, synthesized /etc, minimal /dev, new /proc."""
    layers = []
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
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
    for path in _runtime_dirs():
        os.makedirs(root + path, exist_ok=True)
        _bind(path, root + path)
    layers.append("read-only runtime: /usr + " + (", ".join(_runtime_dirs()) or "nothing else"))
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
