"""Error-sensitive spans between a correct and an incorrect code, as character offsets.

Line level: difflib aligns the two codes line by line; lines deleted from the correct code are
marked in the correct code, lines added in the incorrect code are marked in the incorrect code
(a replaced block is both). Token level: Levenshtein character edit operations; an edited
(replaced / deleted / inserted) character is marked, and for a pure insertion the character at
the insertion point is marked on the side that has no character of its own (so both sides always
carry a span when the codes differ). Offsets are characters, not tokens: the trainer maps them to
the tokens of whatever tokenizer it uses.
"""

from __future__ import annotations

import difflib

import Levenshtein

from codesft.schema import CharSpan, FaultSpans


def merge_spans(points: list[tuple[int, int]]) -> list[CharSpan]:
    """Sort and merge overlapping or touching [start, end) intervals."""
    out: list[list[int]] = []
    for start, end in sorted(p for p in points if p[1] > p[0]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [CharSpan(start=s, end=e) for s, e in out]


def _line_starts(lines: list[str]) -> list[int]:
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line)
    starts.append(pos)
    return starts


def line_spans(correct: str, incorrect: str) -> tuple[list[CharSpan], list[CharSpan]]:
    a, b = correct.splitlines(keepends=True), incorrect.splitlines(keepends=True)
    sa, sb = _line_starts(a), _line_starts(b)
    marks_a: list[tuple[int, int]] = []
    marks_b: list[tuple[int, int]] = []
    # autojunk off: code has many repeated lines (blank, "return x") that must still align.
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            marks_a.append((sa[i1], sa[i2]))
        if j2 > j1:
            marks_b.append((sb[j1], sb[j2]))
    return merge_spans(marks_a), merge_spans(marks_b)


def token_spans(correct: str, incorrect: str) -> tuple[list[CharSpan], list[CharSpan]]:
    marks_a: list[tuple[int, int]] = []
    marks_b: list[tuple[int, int]] = []

    def point(text: str, pos: int) -> tuple[int, int]:
        # The insertion point itself; at the very end the last character stands in for it.
        pos = min(pos, len(text) - 1)
        return (pos, pos + 1) if pos >= 0 else (0, 0)

    for op, i, j in Levenshtein.editops(correct, incorrect):
        if op == "replace":
            marks_a.append((i, i + 1))
            marks_b.append((j, j + 1))
        elif op == "delete":  # a character of the correct code is missing from the incorrect one
            marks_a.append((i, i + 1))
            marks_b.append(point(incorrect, j))
        else:  # insert: the incorrect code has an extra character
            marks_b.append((j, j + 1))
            marks_a.append(point(correct, i))
    return merge_spans(marks_a), merge_spans(marks_b)


def diff_spans(correct: str, incorrect: str) -> tuple[FaultSpans, FaultSpans]:
    """(spans in the correct code, spans in the incorrect code)."""
    la, lb = line_spans(correct, incorrect)
    ta, tb = token_spans(correct, incorrect)
    return FaultSpans(line=la, token=ta), FaultSpans(line=lb, token=tb)


def spans_json(correct: str, incorrect: str) -> dict:
    """The spans plus the text they cover, for `codesft faults diff` and for people reading them."""
    ca, cb = diff_spans(correct, incorrect)

    def side(text: str, spans: FaultSpans) -> dict:
        return {
            level: [{"start": s.start, "end": s.end, "text": text[s.start:s.end]} for s in getattr(spans, level)]
            for level in ("line", "token")
        }

    return {"correct": side(correct, ca), "incorrect": side(incorrect, cb)}
