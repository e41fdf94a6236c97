"""decontaminate: reject records that overlap HumanEval or the MBPP test split.

Two signals per benchmark item (its prompt and its reference solution): the share of the item's
token n-grams found in the record, and a verbatim (whitespace-normalised) occurrence of the item's
text. The n-gram index doubles as the candidate filter, so the substring test runs only against
items that share at least one n-gram.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from codesft.curate.config import DecontamConfig
from codesft.curate.gate import fork, reject
from codesft.schema import Sample

BENCH_DIR = Path(__file__).resolve().parent.parent / "data" / "benchmarks"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")
MBPP_TEST_IDS = range(11, 511)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> set[int]:
    return {hash(tuple(tokens[i:i + n])) for i in range(len(tokens) - n + 1)}


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def benchmark_items(names: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """[(item id, field, text)], e.g. ("humaneval/HumanEval/0", "prompt", "...")."""
    items = []
    if "humaneval" in names:
        with gzip.open(BENCH_DIR / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                p = json.loads(line)
                items.append((f"humaneval/{p['task_id']}", "prompt", p["prompt"]))
                items.append((f"humaneval/{p['task_id']}", "solution", p["prompt"] + p["canonical_solution"]))
    if "mbpp" in names:
        with gzip.open(BENCH_DIR / "mbpp.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                p = json.loads(line)
                if p["task_id"] in MBPP_TEST_IDS:
                    items.append((f"mbpp/{p['task_id']}", "prompt", p["text"]))
                    items.append((f"mbpp/{p['task_id']}", "solution", p["code"]))
    return items


class Index:
    def __init__(self, names: tuple[str, ...], n: int, min_chars: int):
        self.n = n
        self.items = benchmark_items(names)
        self.sizes: list[int] = []
        self.texts: list[str] = []
        self.grams: dict[int, list[int]] = {}
        self.vocab: set[str] = set()  # every benchmark token: an n-gram with any other token cannot match
        for i, (_, _, text) in enumerate(self.items):
            toks = _tokens(text)
            self.vocab.update(toks)
            grams = _ngrams(toks, n)
            self.sizes.append(len(grams))
            norm = _norm(text)
            self.texts.append(norm if len(norm) >= min_chars else "")
            for g in grams:
                self.grams.setdefault(g, []).append(i)

    def _candidate_ngrams(self, tokens: list[str]) -> set[int]:
        """`_ngrams(tokens, n)` restricted to n-grams made only of benchmark tokens (the only ones that can hit)."""
        n, vocab = self.n, self.vocab
        out = set()
        run = 0  # known tokens ending at position i
        for i, tok in enumerate(tokens):
            run = run + 1 if tok in vocab else 0
            if run >= n:
                out.add(hash(tuple(tokens[i - n + 1:i + 1])))
        return out

    def match(self, text: str, threshold: float) -> tuple[str, str, str] | None:
        """(item id, field, evidence) of the first contaminating item, else None."""
        hits: dict[int, int] = {}
        for g in self._candidate_ngrams(_tokens(text)):
            for i in self.grams.get(g, ()):
                hits[i] = hits.get(i, 0) + 1
        if not hits:
            return None
        norm = None
        for i in sorted(hits):
            item, fld, _ = self.items[i]
            share = hits[i] / self.sizes[i] if self.sizes[i] else 0.0
            if share >= threshold:
                return item, fld, f"{self.n}-gram overlap {share:.2f}"
            if self.texts[i]:
                norm = norm if norm is not None else _norm(text)
                if self.texts[i] in norm:
                    return item, fld, "exact substring"
        return None


@lru_cache(maxsize=4)
def load_index(names: tuple[str, ...], n: int, min_chars: int) -> Index:
    return Index(names, n, min_chars)


def record_text(s: Sample) -> str:
    parts = [m.content for m in s.messages if m.role in ("user", "assistant", "system")]
    if s.code:
        parts += [x for x in (s.code.prompt, s.code.solution) if x]
    return "\n".join(parts)


def verdict(s: Sample, cfg: DecontamConfig) -> str | None:
    """The rejection reason when `s` overlaps a benchmark item, else None (pure; runs in workers)."""
    if not cfg.enabled:
        return None
    index = load_index(tuple(sorted(cfg.benchmarks)), cfg.ngram, cfg.min_substring_chars)
    hit = index.match(record_text(s), cfg.overlap_threshold)
    if hit is None:
        return None
    item, fld, evidence = hit
    return f"contaminated: {item} ({fld}, {evidence})"


def decontaminate(samples: Iterable[Sample], cfg: DecontamConfig) -> Iterator[Sample]:
    for s in samples:
        reason = verdict(s, cfg) if s.quality.decision != "rejected" else None
        yield s if reason is None else reject(fork(s), reason, "decontam")
