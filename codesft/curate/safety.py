"""Safety findings: ruff's security rules screen a whole batch, bandit grades what ruff flags.

Bandit is the grader (its findings carry the severity and confidence that the score and the veto
use), but its pure-Python AST walk costs ~1-2 ms per solution. Ruff's `S` rules are a port of
bandit's checks (S<nnn> is bandit's B<nnn>) written in Rust; one `ruff check` process over a temp
dir of a few hundred files costs ~30-60 us per file. So `analyze_batch`:

1. parses each solution (`ast.parse`); unparsable code gets `None`, as bandit would;
2. writes the parsable ones to a temp dir (tmpfs where there is one) and runs ruff once with
   `--preview --select S --ignore-noqa` (preview: bandit's import checks B401-B415 are still
   preview rules in ruff), ignoring the skipped ids;
3. runs bandit only on the solutions ruff flagged; their findings are bandit's, unchanged.

A solution that ruff finds clean gets no findings. The bandit checks that ruff has not ported
(B613 trojansource, B614 torch.load, B615 huggingface downloads, B703 django mark_safe) are
therefore only reported on solutions that ruff flags for something else. Without a ruff binary,
or with `prefilter=False`, bandit runs on every solution (the old behaviour, ~40x slower).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from codesft.pycode import parses

SEVERITY_PENALTY = {"HIGH": 0.5, "MEDIUM": 0.2, "LOW": 0.05}
Findings = list[tuple[str, str, str]]
log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _testset(skip: tuple[str, ...]):
    logging.getLogger("bandit").setLevel(logging.ERROR)
    from bandit.core import config as b_config
    from bandit.core import test_set

    conf = b_config.BanditConfig()
    return test_set.BanditTestSet(conf, {"exclude": list(skip)} if skip else {})


def bandit_findings(code: str, skip: tuple[str, ...] = ("B101",)) -> Findings | None:
    """[(test id, severity, confidence)], or None when the code does not parse."""
    from bandit.core import meta_ast, metrics, node_visitor

    data = code.encode("utf-8")
    visitor = node_visitor.BanditNodeVisitor("snippet.py", io.BytesIO(data), meta_ast.BanditMetaAst(),
                                             _testset(tuple(sorted(skip))), False, {}, metrics.Metrics())
    try:
        visitor.process(data)
    except (SyntaxError, ValueError):
        return None
    return [(i.test_id, str(i.severity), str(i.confidence)) for i in visitor.tester.results if i.test_id not in skip]


@lru_cache(maxsize=1)
def ruff_binary() -> str | None:
    try:
        from ruff.__main__ import find_ruff_bin

        return os.fsdecode(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("ruff")


def _tmp_root() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def ruff_flagged(codes: list[str], skip: tuple[str, ...] = ("B101",)) -> list[list[str]] | None:
    """Ruff `S` rule codes per code string (same order), or None when ruff cannot be run."""
    binary = ruff_binary()
    if binary is None:
        return None
    if not codes:
        return []
    tmp = tempfile.mkdtemp(prefix="codesft-ruff-", dir=_tmp_root())
    try:
        paths = []
        for i, code in enumerate(codes):
            p = os.path.join(tmp, f"s{i}.py")
            with open(p, "wb") as fh:
                fh.write(code.encode("utf-8", "surrogatepass"))
            paths.append(p)
        ignore = ",".join("S" + s[1:] for s in skip if s[:1] == "B" and s[1:].isdigit())
        cmd = [binary, "check", "--isolated", "--no-cache", "--preview", "--select", "S", "--ignore-noqa",
               "--output-format", "json", "--exit-zero", "--quiet"]
        if ignore:
            cmd += ["--ignore", ignore]
        proc = subprocess.run(cmd + ["--", *paths], capture_output=True, check=False,
                              env={**os.environ, "RUFF_NO_CACHE": "true"})
        if proc.returncode != 0:
            log.warning("ruff failed (%s); falling back to bandit on every solution", proc.stderr[:200])
            return None
        out: list[list[str]] = [[] for _ in codes]
        index = {Path(p).name: i for i, p in enumerate(paths)}
        for d in json.loads(proc.stdout or b"[]"):
            i = index.get(Path(d["filename"]).name)
            if i is not None and d.get("code"):
                out[i].append(d["code"])
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def analyze_batch(codes: list[str], skip: tuple[str, ...] = ("B101",), prefilter: bool = True,
                  parsed: bool = False) -> list[Findings | None]:
    """Bandit findings per code string (None: does not parse), screened by ruff in one process.
    `parsed=True`: the caller has already checked that every code string parses."""
    skip = tuple(sorted(skip))
    parsable = list(range(len(codes))) if parsed else [i for i, c in enumerate(codes) if parses(c)]
    out: list[Findings | None] = [None] * len(codes)
    flagged = ruff_flagged([codes[i] for i in parsable], skip) if prefilter else None
    for k, i in enumerate(parsable):
        if flagged is not None and not flagged[k]:
            out[i] = []
        else:
            out[i] = bandit_findings(codes[i], skip)
    return out


def safety_score(findings: Findings) -> float:
    return max(0.0, 1.0 - sum(SEVERITY_PENALTY.get(sev, 0.0) for _, sev, _ in findings))
