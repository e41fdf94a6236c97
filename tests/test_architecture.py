"""The layers of docs/architecture.md, held against the code: no import goes upward, stage packages import
each other only where the page says why, and size limits are kept or explained.

Imports are read from the source with `ast`, including those inside function bodies (the place a cycle
likes to hide)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "codesft"

LAYERS: dict[str, int] = {
    # 0. foundation
    "schema": 0, "pairs": 0, "config": 0, "pycode": 0, "assets": 0, "models": 0, "tiny_model": 0, "report": 0,
    "__init__": 0,
    # 1. engines
    "sandbox": 1, "bundle": 1, "export": 1, "executors": 1,
    # 2. stages
    "sources": 2, "curate": 2, "faults": 2, "train": 2, "evaluate": 2, "review": 2, "sample": 2, "augment": 2,
    # 3. entry points
    "pipeline": 3, "cli": 3,
}
# Sideways imports between stage packages, each with its reason in docs/architecture.md.
SIDEWAYS = {
    ("sources", "curate.redact"),
    ("curate", "sources"),
    ("curate", "evaluate"),
    ("faults", "evaluate"),
    ("review", "curate"),
    ("review", "evaluate"),
    ("sample", "curate"),
    ("sample", "evaluate"),
    ("sample", "faults"),
    ("augment", "curate"),
    ("augment", "evaluate"),
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def _modules() -> list[Path]:
    """The package's modules (not the example assets shipped as data)."""
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts and "data" not in p.relative_to(PKG).parts)


def _top(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _layer(path: Path) -> int:
    """A package's `cli.py` registers its commands: an entry point, whatever its package's layer."""
    return LAYERS["cli"] if path.name == "cli.py" else LAYERS[_top(path)]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name below `codesft.`) for every codesft import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name[len("codesft."):]) for a in node.names if a.name.startswith("codesft.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "codesft":
                found += [(node.lineno, a.name) for a in node.names]
            elif node.module.startswith("codesft."):
                found.append((node.lineno, node.module[len("codesft."):]))
    return found


def test_every_package_has_a_layer():
    assert not {_top(p) for p in _modules()} - set(LAYERS), "a new package: give it a layer here and in the docs"


def test_no_import_goes_upward_or_sideways_without_a_reason():
    wrong = []
    for path in _modules():
        here = _top(path)
        for line, name in _imports(path):
            there = name.split(".")[0]
            if there == here or there == "__version__":
                continue
            if there not in LAYERS:
                continue  # a name exported by codesft/__init__.py
            mine = _layer(path)
            up = LAYERS[there] > mine
            side = LAYERS[there] == mine == 2 and not any(
                here == a and (name == b or name.startswith(b + ".")) for a, b in SIDEWAYS)
            if up or side:
                wrong.append(f"{path.relative_to(PKG.parent)}:{line}: {here} (layer {mine}) imports "
                             f"codesft.{name} (layer {LAYERS[there]})")
    assert not wrong, "\n".join(wrong)


def test_the_layering_test_catches_an_upward_import(tmp_path, monkeypatch):
    """The check itself can fail: a sandbox module importing curate is reported."""
    fake = tmp_path / "codesft"
    (fake / "sandbox").mkdir(parents=True)
    (fake / "sandbox" / "bad.py").write_text("def f():\n    from codesft.curate.gate import gate_one\n")
    monkeypatch.setitem(globals(), "PKG", fake)
    with pytest.raises(AssertionError, match="sandbox/bad.py:2: sandbox .layer 1. imports codesft.curate.gate"):
        test_no_import_goes_upward_or_sideways_without_a_reason()


def _reason_above(lines: list[str], lineno: int) -> bool:
    """A `# size:` comment on one of the lines just above a definition (decorators and comments included)."""
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("@", "#")):
        if "# size:" in lines[i]:
            return True
        i -= 1
    return False


def test_modules_and_functions_stay_small_or_say_why():
    """Modules over 400 lines and functions over 60 carry a `# size:` comment saying why (at the top of the
    module; just above the def)."""
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if len(lines) > MAX_MODULE_LINES and not any("# size:" in x for x in lines[:40]):
            long.append(f"{path.relative_to(PKG.parent)}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES and not _reason_above(lines, first):
                    long.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: {node.name} is {size} lines")
    assert not long, "\n".join(long)
