"""Synthetic records for the throughput benchmark and for tests: realistic shapes, no I/O.

Copies of recent records give the dedup stage real exact and near duplicates to find (about 2% and
3%; a near duplicate adds one word to an error message: Jaccard ~0.87 over the compared shingles), and
every 50th record carries a planted email for the redactor.
"""

from __future__ import annotations

import random
from typing import Iterator

from codesft.schema import Code, Message, Metadata, Provenance, Quality, Sample, Source, content_hash, make_sample_id

_OPS = [("add", "+"), ("sub", "-"), ("mul", "*"), ("max_of", "max"), ("min_of", "min")]
_CATEGORIES = ["code_generation", "code_generation", "review_repair", "conversation", "instruction"]


def make_sample(i: int, variant: int = 0, category: str = "code_generation") -> Sample:
    name, op = _OPS[i % len(_OPS)]
    fn = f"{name}_{i}"
    a, b = f"left_{i}", f"right_{i}"  # record-specific names: unrelated records share few shingles
    expr = f"{op}({a}, {b})" if op.isalpha() else f"{a} {op} {b}"
    body = (f"def {fn}({a}, {b}):\n    \"\"\"Combine {a} and {b} using {name}.\n\n"
            f"    Both arguments must be numbers; the result keeps their type.\n    \"\"\"\n"
            f"    if not isinstance({a}, (int, float)) or not isinstance({b}, (int, float)):\n"
            f"        raise TypeError(\"arguments must be numbers\")\n"
            f"    result_{i} = {expr}\n    return result_{i}\n")
    if variant:  # a near duplicate: same code, one word added to a line
        body = body.replace("raise TypeError(\"arguments must be numbers\")",
                            "raise TypeError(\"both arguments must be numbers\")")
    tests = f"assert {fn}(2, 3) == {eval(expr, {a: 2, b: 3, 'max': max, 'min': min})}\n"  # noqa: S307 - our own constant expression
    user = f"Write a Python function `{fn}` that combines two numbers using {name}. Record {i}."
    if i % 50 == 0:
        user += f" Questions to dev{i}@example.com."
    raw = f"{user}\x00{body}\x00{variant}"
    sid = make_sample_id("eval_question", f"synthetic:{i}:{variant}", raw)
    return Sample(
        sample_id=sid,
        source=Source(kind="eval_question", group_key=f"synthetic:{i // 4}"),
        messages=[Message(role="user", content=user), Message(role="assistant", content=f"```python\n{body}```")],
        code=Code(language="python", solution=body, tests=tests, entry_point=fn),
        metadata=Metadata(language="python", category=category, difficulty=["easy", "medium", "hard"][i % 3]),
        quality=Quality(iterations=1 + i % 3),
        provenance=Provenance(content_hash=content_hash(raw), source_path="synthetic.jsonl", line=i + 1),
    )


def synthetic_stream(n: int, seed: int = 0) -> Iterator[Sample]:
    rng = random.Random(seed)
    for i in range(n):
        r = rng.random()
        base = i
        if r < 0.02 and i > 10:
            base = i - rng.randint(1, 10)  # exact duplicate of a recent record
            yield make_sample(base, 0, _CATEGORIES[base % len(_CATEGORIES)]).model_copy(
                update={"sample_id": make_sample_id("eval_question", f"dup:{i}", str(base))})
            continue
        variant = 1 if r < 0.05 else 0
        if variant and i > 10:
            base = i - rng.randint(1, 10)  # a near duplicate of a recent record
        yield make_sample(base, variant, _CATEGORIES[base % len(_CATEGORIES)])
