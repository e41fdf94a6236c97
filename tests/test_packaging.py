"""A plain install works: every import is declared, and `codesft run` works from a wheel, from any directory.

deptry reads pyproject.toml (`[tool.deptry]`) and every import of the package and of benchmarks/; the wheel is
built from a copy of the sources and installed without dependencies into a fresh virtualenv that sees the
system's packages (torch, transformers, ...) but not this checkout: setuptools' editable finder, which the
system site-packages loads from a .pth file, is shadowed by a no-op module of the same name in the venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_is_declared() -> None:
    proc = subprocess.run([sys.executable, "-m", "deptry", "--no-ansi", "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"deptry found undeclared or unused dependencies:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of what the build reads (pyproject.toml, README.md, codesft/): building in the
    checkout would write build/ and *.egg-info there, under the feet of anyone else using it."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "codesft", src / "codesft", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("codesft-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel: Path) -> Path:
    """A virtualenv with the wheel installed, where `import codesft` cannot reach this checkout."""
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env_dir)],
                   check=True, timeout=120)
    python = env_dir / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    for finder in Path(sysconfig.get_path("purelib")).glob("__editable__*codesft*finder.py"):
        (purelib / finder.name).write_text("def install():\n    pass  # this venv tests the wheel, not the checkout\n")
    # pip comes from the system site-packages; it installs into the venv it runs in.
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return env_dir


def _in_venv(venv: Path, code: str, cwd: Path) -> str:
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_wheel_ships_what_the_run_preset_needs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = ["codesft/configs/run/demo.yaml", "codesft/configs/run/tiny.yaml"]
    for name in ("curate.yaml", "curate_demo.yaml"):  # the field's default, and the demo preset's
        config = yaml.safe_load((ROOT / "codesft" / "data" / "examples" / name).read_text())
        needed += [f"codesft/data/examples/{name}", *(f"codesft/data/{spec.partition(':')[2]}" for spec in config["inputs"])]
    assert [n for n in needed if n not in names] == []


def test_packaged_assets_resolve_from_a_wheel_install(venv: Path, tmp_path: Path) -> None:
    out = _in_venv(venv, "import codesft, json\n"
                         "from codesft.pipeline import _curate_config, resolve_config\n"
                         "from pathlib import Path\n"
                         "cfg = _curate_config(resolve_config(None, 'demo', {}), Path('out'))\n"
                         "print(json.dumps({'pkg': codesft.__file__, 'inputs': cfg.inputs}))", cwd=tmp_path)
    found = json.loads(out)
    site = str(venv.resolve())
    assert found["pkg"].startswith(site), f"codesft imported from {found['pkg']}, not from the wheel"
    assert found["inputs"] and all(spec.partition(":")[2].startswith(site) for spec in found["inputs"]), found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_codesft_run_from_a_wheel_in_another_directory(venv: Path, tmp_path: Path) -> None:
    proc = subprocess.run([str(venv / "bin" / "codesft"), "run", "--preset", "tiny", "--out", "run"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "report.html").is_file()
    # Every module of the installed package imports (no file left out of the wheel, no import of the checkout).
    count = _in_venv(venv, "import importlib, pkgutil, codesft\n"
                           "names = [m.name for m in pkgutil.walk_packages(codesft.__path__, 'codesft.')]\n"
                           "[importlib.import_module(n) for n in names]\n"
                           "import sys\n"
                           "outside = [n for n, m in sys.modules.items() if n.split('.')[0] == 'codesft'\n"
                           "           and getattr(m, '__file__', None) and not m.__file__.startswith(sys.prefix)]\n"
                           "assert not outside, outside\n"
                           "print(len(names))", cwd=tmp_path)
    assert int(count) > 50
