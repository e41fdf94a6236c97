"""Small facts about Python source text shared by curation, faults and evaluation."""

from __future__ import annotations

import ast


def parses(code: str) -> bool:
    """True when `code` is syntactically valid Python (null bytes and the like count as invalid)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True
