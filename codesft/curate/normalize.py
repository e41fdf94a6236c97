"""normalize: line endings, whitespace, code-fence extraction and language detection."""

from __future__ import annotations

import re
from functools import lru_cache

from codesft.curate.config import NormalizeConfig
from codesft.schema import Sample

FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:\n```|```)", re.S)
_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript", "sh": "shell",
            "bash": "shell", "c++": "cpp", "cs": "csharp", "golang": "go", "rs": "rust", "rb": "ruby"}
# Cheap signals per language; the first language whose signals score highest wins. Only used when the
# source did not state a language and the fence had no tag.
_SIGNALS = {
    "python": [r"^\s*def \w+\(.*\):", r"^\s*import \w+", r"^\s*from [\w.]+ import", r"^\s*class \w+.*:\s*$", r"\bself\b", r"\belif\b"],
    "javascript": [r"\bfunction\s*\w*\(", r"\bconst \w+\s*=", r"=>", r"\bconsole\.log\(", r"\blet \w+"],
    "java": [r"\bpublic (static )?(class|void|int)\b", r"System\.out\.println", r"\bprivate \w+ \w+;"],
    "go": [r"^package \w+", r"\bfunc \w+\(", r":=", r"\bfmt\.\w+\("],
    "rust": [r"\bfn \w+\(", r"\blet mut\b", r"\bimpl\b", r"println!\("],
    "cpp": [r"#include <\w+>", r"std::", r"\bcout\b"],
    "shell": [r"^#!/bin/(ba)?sh", r"\becho \$", r"^\s*fi\s*$"],
    "sql": [r"\bSELECT\b.+\bFROM\b", r"\bINSERT INTO\b", r"\bCREATE TABLE\b"],
}
_COMPILED = {lang: [re.compile(p, re.M) for p in pats] for lang, pats in _SIGNALS.items()}


def canonical_language(tag: str) -> str:
    tag = tag.strip().lower()
    return _ALIASES.get(tag, tag)


def detect_language(code: str) -> str | None:
    best, best_score = None, 0
    for lang, patterns in _COMPILED.items():
        score = sum(1 for p in patterns if p.search(code))
        if score > best_score:
            best, best_score = lang, score
    return best


def extract_code_blocks(text: str) -> list[tuple[str, str]]:
    """[(language tag, code)] for every fenced block, in order."""
    return list(_code_blocks(text))


@lru_cache(maxsize=4096)  # normalize and score both look at the same answer text (a batch apart at most)
def _code_blocks(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((canonical_language(m.group(1)), m.group(2)) for m in FENCE.finditer(text))


def clean_text(text: str, strip_trailing: bool) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    if strip_trailing:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text.strip("\n")


def clean_code(code: str | None, strip_trailing: bool) -> str | None:
    if code is None:
        return None
    code = clean_text(code, strip_trailing)
    if code.lstrip().startswith("```"):  # a source that fenced its code field
        blocks = extract_code_blocks(code)
        if blocks:
            code = blocks[0][1]
    return code + "\n" if code.strip() else None


def normalize_one(sample: Sample, cfg: NormalizeConfig) -> Sample:
    # Copy only what this stage writes (messages, code, metadata, source); the rest is shared.
    s = sample.model_copy(update={
        "messages": [m.model_copy(update={"content": clean_text(m.content, cfg.strip_trailing_whitespace)})
                     for m in sample.messages],
        "code": sample.code.model_copy() if sample.code is not None else None,
        "metadata": sample.metadata.model_copy(), "source": sample.source.model_copy()})
    answer_blocks: list[tuple[str, str]] = []
    for m in reversed(s.messages):
        if m.role == "assistant" and m.content:
            answer_blocks = extract_code_blocks(m.content)
            if answer_blocks:
                break
    if s.code is not None:
        for field in ("solution", "tests", "before", "prompt", "setup"):
            setattr(s.code, field, clean_code(getattr(s.code, field), cfg.strip_trailing_whitespace))
    elif cfg.extract_code and answer_blocks:
        from codesft.schema import Code

        tag, code = max(answer_blocks, key=lambda b: len(b[1]))
        s.code = Code(language=tag or s.metadata.language, solution=clean_code(code, cfg.strip_trailing_whitespace))
    if cfg.detect_language and s.code is not None and s.code.solution:
        tag = next((t for t, _ in answer_blocks if t), "")
        stated = "language" in s.metadata.model_fields_set
        if tag and not stated:
            s.metadata.language = s.code.language = tag
        elif not stated and not tag:
            guess = detect_language(s.code.solution)
            if guess:
                s.metadata.language = s.code.language = guess
    s.source.stage = "normalize"
    return s
