"""decontaminate: reject records that overlap a protected benchmark split.

Protected by default (`PROTECTED_SPLITS`): every split `codesft eval` scores on except MBPP's train split,
which is meant for training: HumanEval, HumanEval+ (its reference solutions differ from HumanEval's),
and MBPP's few-shot (task ids 1-10), test (11-510) and validation (511-600) splits.

Two signals per benchmark item (its prompt and its reference solution): the share of the item's
token n-grams found in the record, and a verbatim (whitespace-normalised) occurrence of the item's
text. The n-gram index doubles as the candidate filter, so the substring test runs only against
items that share at least one n-gram. What is scanned is every text a model could train on or be
shown: all messages (tool turns and tool-call arguments included) and the code fields (prompt,
solution, tests, setup, the `before` code of repair pairs).
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from codesft.curate.config import DecontamConfig
from codesft.curate.gate import fork, reject
from codesft.schema import Sample

BENCH_DIR = Path(__file__).resolve().parent.parent / "data" / "benchmarks"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")
ALIASES = {"mbpp": "mbpp:test"}  # the eval's `--benchmark mbpp` is the test split too


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> set[int]:
    return {hash(tuple(tokens[i:i + n])) for i in range(len(tokens) - n + 1)}


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _rows(name: str) -> list[dict]:
    with gzip.open(BENCH_DIR / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def benchmark_items(names: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """[(item id, field, text)], e.g. ("humaneval/HumanEval/0", "prompt", "..."), for the protected splits
    `names` (see `DecontamConfig.benchmarks`). A text already indexed under an earlier split (HumanEval+
    repeats HumanEval's prompts) is indexed once."""
    # The eval's split boundaries, so both agree on what "mbpp:validation" is.
    from codesft.evaluate.problems import MBPP_SPLITS

    wanted = {ALIASES.get(n, n) for n in names}
    items: list[tuple[str, str, str]] = []
    for split, path in (("humaneval", "HumanEval.jsonl.gz"), ("humaneval+", "HumanEvalPlus-v0.1.10.jsonl.gz")):
        if split in wanted:
            for p in _rows(path):
                items.append((f"{split}/{p['task_id']}", "prompt", p["prompt"]))
                items.append((f"{split}/{p['task_id']}", "solution", p["prompt"] + p["canonical_solution"]))
    ranges = [MBPP_SPLITS[n.split(":", 1)[1]] for n in sorted(wanted) if n.startswith("mbpp:")]
    if ranges:
        for p in _rows("mbpp.jsonl.gz"):
            if any(lo <= int(p["task_id"]) <= hi for lo, hi in ranges):
                items.append((f"mbpp/{p['task_id']}", "prompt", p["text"]))
                items.append((f"mbpp/{p['task_id']}", "solution", p["code"]))
    seen: set[str] = set()
    unique = []
    for item in items:
        if item[2] not in seen:
            seen.add(item[2])
            unique.append(item)
    return unique


class Index:
    def __init__(self, names: tuple[str, ...], n: int, min_chars: int):
        self.n = n
        self.items = benchmark_items(names)
        self.sizes: list[int] = []
        self.texts: list[str] = []
        building: dict[int, list[int]] = {}  # n-gram hash -> items that contain it
        self.vocab: set[str] = set()  # every benchmark token: an n-gram with any other token cannot match
        for i, (_, _, text) in enumerate(self.items):
            toks = _tokens(text)
            self.vocab.update(toks)
            grams = _ngrams(toks, n)
            self.sizes.append(len(grams))
            norm = _norm(text)
            self.texts.append(norm if len(norm) >= min_chars else "")
            for g in grams:
                building.setdefault(g, []).append(i)
        # Tuples of ints (and then the dict) drop out of the garbage collector's tracking: otherwise every full
        # collection in a worker walks ~60,000 lists that never change (~half its time with the default splits).
        self.grams: dict[int, tuple[int, ...]] = {g: tuple(ix) for g, ix in building.items()}

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


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def argument_texts(arguments: str) -> list[str]:
    """The strings inside JSON-encoded tool-call arguments: JSON escapes (\\n, \\") would break the n-grams of
    code passed as an argument. Arguments that are not JSON are scanned as they are."""
    try:
        return list(_strings(json.loads(arguments)))
    except (json.JSONDecodeError, RecursionError):
        return [arguments]


def record_text(s: Sample) -> str:
    """Every text of the record a model could see: messages of every role (tool results included), tool-call
    arguments, and the code fields."""
    parts = [m.content for m in s.messages]
    parts += [x for m in s.messages for c in (m.tool_calls or []) for x in argument_texts(c.function.arguments)]
    if s.code:
        c = s.code
        parts += [x for x in (c.prompt, c.solution, c.tests, c.setup, c.before) if x]
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
