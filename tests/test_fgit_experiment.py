"""benchmarks/fgit_vs_sft.py end to end on the tiny model, in two sittings (slow: it curates all of MBPP 511-974)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "fgit_vs_sft.py"


def _run(out: Path, *conditions: str) -> str:
    cmd = [sys.executable, str(SCRIPT), "--model", "tiny:random", "--out", str(out), "--limit", "1",
           "--train-max-steps", "1", "--max-new-tokens", "8", "--conditions", *conditions]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_two_sittings_report_together(tmp_path: Path) -> None:
    out = tmp_path / "exp"
    _run(out, "sft")
    first = (out / "results.md").read_text()
    assert "| sft |" in first and "| fgit_bt_sym |" not in first
    assert re.search(r"Not run yet:\*\* fgit_bt, fgit_bt_sym, ", first)

    log = _run(out, "fgit_bt_sym")
    # The second sitting reuses curate, faults, the base model's evaluations; it trains and evaluates one condition.
    assert "[train-sft]" not in log and "[curate] done in an earlier run" in log
    assert "[eval-humaneval+-base] done in an earlier run" in log
    text = (out / "results.md").read_text()
    for name in ("base", "sft", "fgit_bt_sym"):
        assert re.search(rf"^\| {name} \| \d+\.\d \| \d+\.\d \| \d+\.\d \|", text, re.MULTILINE), name
    assert "| HumanEval+ (base+plus tests) | fgit_bt_sym | sft |" in text and "| MBPP test | sft | base |" in text
    assert len(re.findall(r"^    python .*fgit_vs_sft\.py", text, re.MULTILINE)) == 2
    assert re.search(r"manifest sha256 `[0-9a-f]{64}`", text)
    # Where each stage ran comes from what the stages recorded; each command line says which device it ran on.
    cpu = f"`cpu ({os.cpu_count()} cores)`"
    assert f"training: {cpu}" in text and f"generation: {cpu}" in text
    assert len(re.findall(rf"fgit_vs_sft\.py .*  # on cpu \({os.cpu_count()} cores\)$", text, re.MULTILINE)) == 2

    notes, published = tmp_path / "notes.md", tmp_path / "published.md"
    notes.write_text("## What the numbers say\n\nmeasured.\n")
    subprocess.run([sys.executable, str(SCRIPT), "--model", "tiny:random", "--out", str(out), "--report-only",
                    "--notes", str(notes), "--publish", str(published)], check=True, capture_output=True, timeout=300)
    assert published.read_text().startswith("# FGit vs SFT") and published.read_text().endswith(notes.read_text())
