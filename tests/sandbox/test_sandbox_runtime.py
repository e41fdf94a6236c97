"""The sandbox runs the interpreter and packages of whatever environment codesft runs from -- a venv under the
system temp directory, a venv inside the checkout or reached through a symlink, a `pip install --user` site,
`.pth` directories -- while the host's /tmp, home and checkout stay invisible."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
README = CHECKOUT / "README.md"

# Each program checks one thing the issue lists; all run in script mode.
ENV_PROGRAMS = {
    "numpy": "import numpy as np\nassert np.allclose(np.arange(3) * 0.5, [0.0, 0.5, 1.0])\n",
    "subprocess_numpy": ("import subprocess, sys\n"
                         "r = subprocess.run([sys.executable, '-c', 'import numpy; print(numpy.add(40, 2))'], "
                         "capture_output=True, text=True)\nassert r.returncode == 0 and r.stdout.strip() == '42', r\n"),
}


def _exec(python: Path, programs: dict[str, str], tmp: Path, env: dict | None = None, cwd: str = "/") -> dict:
    inp, out = tmp / "in.jsonl", tmp / "out.jsonl"
    inp.write_text("".join(json.dumps({"id": k, "code": v}) + "\n" for k, v in programs.items()))
    proc = subprocess.run([str(python), "-m", "codesft.cli", "exec", str(inp), "-o", str(out), "--timeout-s", "30",
                           "--workers", "2"], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}


def _assert_passed(results: dict) -> None:
    failed = {k: (r["status"], r["reason"], r["stderr"][-800:]) for k, r in results.items() if r["status"] != "passed"}
    assert failed == {}


def _invisible(*paths: Path | str) -> str:
    return f"import os\nfor p in {[str(p) for p in paths]!r}:\n    assert not os.path.exists(p), p\n"


def test_venv_under_the_system_temp_dir_imports_numpy_and_starts_its_interpreter(tmp_venv, tmp_path):
    marker = tmp_venv.parents[2] / "host-tmp-file.txt"  # beside the venv, in the host's /tmp
    marker.write_text("secret")
    programs = dict(ENV_PROGRAMS, prefix=f"import sys\nassert sys.prefix == {str(tmp_venv.parents[1])!r}, sys.prefix\n",
                    hidden=_invisible(marker, README, CHECKOUT / "codesft"))
    _assert_passed(_exec(tmp_venv, programs, tmp_path))


def test_venv_reached_through_a_symlink(tmp_venv, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_venv.parents[1], target_is_directory=True)  # .../link -> .../venv
    python = link / "bin" / "python"
    programs = dict(ENV_PROGRAMS, exe=f"import sys\nassert sys.executable == {str(python)!r}, sys.executable\n")
    _assert_passed(_exec(python, programs, tmp_path))


def test_venv_inside_the_checkout_is_bound_while_the_checkout_stays_hidden(venv_factory, tmp_path):
    holder = CHECKOUT / ".venv"  # ignored by git
    created = not holder.exists()
    where = holder / f"codesft-test-{uuid.uuid4().hex[:8]}"
    try:
        python = venv_factory(where / "venv")
        programs = dict(ENV_PROGRAMS, hidden=_invisible(README, CHECKOUT / "codesft", CHECKOUT / "tests"),
                        prefix=f"import sys\nassert sys.prefix == {str(where / 'venv')!r}, sys.prefix\n")
        _assert_passed(_exec(python, programs, tmp_path, cwd=str(CHECKOUT)))
    finally:
        shutil.rmtree(where, ignore_errors=True)
        if created:
            shutil.rmtree(holder, ignore_errors=True)


def test_user_site_and_pth_directories_are_importable(tmp_path):
    if not site.ENABLE_USER_SITE:
        pytest.skip("this interpreter does not use a user site (a venv without system site-packages)")
    base = tmp_path / "userbase"
    user_site = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    user_site.mkdir(parents=True)
    tag = uuid.uuid4().hex[:8]
    (user_site / f"usermod_{tag}.py").write_text("VALUE = 7\n")
    extra = tmp_path / "pth-target"
    extra.mkdir()
    (extra / f"pthmod_{tag}.py").write_text("VALUE = 5\n")
    (user_site / f"extra_{tag}.pth").write_text(f"{extra}\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    programs = {
        "user_site": f"import usermod_{tag}\nassert usermod_{tag}.VALUE == 7\n",
        "pth": f"import pthmod_{tag}\nassert pthmod_{tag}.VALUE == 5\n",
        "user_site_in_subprocess": ("import subprocess, sys\n"
                                    f"r = subprocess.run([sys.executable, '-c', 'import usermod_{tag}'], capture_output=True, text=True)\n"
                                    "assert r.returncode == 0, r.stderr\n"),
        "hidden": _invisible(secret),
    }
    _assert_passed(_exec(Path(sys.executable), programs, tmp_path, env={**os.environ, "PYTHONUSERBASE": str(base)}))


@pytest.mark.parametrize("candidates,checkout,prefixes,expected", [
    # nested entries fold into their parent; host system trees are bound separately
    (["/opt/py", "/opt/py/lib/site-packages", "/usr/lib/python3"], None, [], ["/opt/py"]),
    # the checkout and non-prefix ancestors are left out; a venv inside the checkout is kept
    (["/src/proj", "/src", "/src/proj/.venv"], "/src/proj", [], ["/src/proj/.venv"]),
    # a venv that holds the checkout (pip install -e git+...) is kept: the checkout is masked inside it
    (["/opt/venv", "/opt/venv/src/proj"], "/opt/venv/src/proj", ["/opt/venv"], ["/opt/venv"]),
])
def test_runtime_dir_rules(monkeypatch, candidates, checkout, prefixes, expected):
    from codesft.sandbox.rootfs import runtime_dirs

    monkeypatch.setattr(os.path, "isdir", lambda p: True)
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    assert runtime_dirs(candidates, checkout, prefixes) == expected


def test_packages_linked_into_site_packages_are_runtime_but_the_checkouts_links_are_not(tmp_path):
    """A site-packages whose packages are symlinks (into another environment, a cache) imports from the link
    targets, so they are bound; the source checkout's own links (its `examples`) and sources are not."""
    from codesft.sandbox.rootfs import symlinked_entries

    checkout = tmp_path / "checkout"
    (checkout / "codesft" / "data" / "examples").mkdir(parents=True)
    (checkout / "examples").symlink_to(checkout / "codesft" / "data" / "examples")
    outer = checkout / ".venv" / "lib" / "python3.11" / "site-packages"  # an environment inside the checkout
    (outer / "numpy").mkdir(parents=True)
    (outer / "six.py").write_text("")
    cache = tmp_path / "cache" / "pkg-1.0"
    cache.mkdir(parents=True)
    site_dir = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site_dir.mkdir(parents=True)
    (site_dir / "numpy").symlink_to(outer / "numpy")
    (site_dir / "six.py").symlink_to(outer / "six.py")
    (site_dir / "pkg").symlink_to(cache)
    (site_dir / "sources").symlink_to(checkout / "codesft")  # a link into the checkout's sources: not runtime
    found = symlinked_entries([str(site_dir), str(checkout)], str(checkout))
    assert found == sorted({str(outer / "numpy"), str(outer), str(cache)})
