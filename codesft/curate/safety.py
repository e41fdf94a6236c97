"""Safety findings from bandit, driven through its Python API on in-memory code (no temp files)."""

from __future__ import annotations

import io
import logging
from functools import lru_cache

SEVERITY_PENALTY = {"HIGH": 0.5, "MEDIUM": 0.2, "LOW": 0.05}


@lru_cache(maxsize=None)
def _testset(skip: tuple[str, ...]):
    logging.getLogger("bandit").setLevel(logging.ERROR)
    from bandit.core import config as b_config
    from bandit.core import test_set

    conf = b_config.BanditConfig()
    return test_set.BanditTestSet(conf, {"exclude": list(skip)} if skip else {})


def bandit_findings(code: str, skip: tuple[str, ...] = ("B101",)) -> list[tuple[str, str, str]] | None:
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


def safety_score(findings: list[tuple[str, str, str]]) -> float:
    return max(0.0, 1.0 - sum(SEVERITY_PENALTY.get(sev, 0.0) for _, sev, _ in findings))
