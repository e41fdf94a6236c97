"""Hand-made samples with tests, written as a real bundle, for the faults pipeline tests."""

from __future__ import annotations

import pytest

from codesft.schema import Code, Message, Provenance, Sample, Source, Split

TASKS = {
    "clip": ("Clip n to [lo, hi].", "def clip(n, lo, hi):\n    if n < lo:\n        return lo\n    if n > hi:\n        return hi\n    return n\n",
             "assert clip(5, 0, 3) == 3\nassert clip(-1, 0, 3) == 0\nassert clip(2, 0, 3) == 2\n"),
    "count": ("Count values below a limit.", "def count_below(xs, limit):\n    c = 0\n    for x in xs:\n        if x < limit:\n            c += 1\n    return c\n",
              "assert count_below([1, 2, 3], 3) == 2\nassert count_below([], 1) == 0\nassert count_below([5, 5], 5) == 0\n"),
    # Tests that every variant passes: nothing can be verified as failing.
    "weak": ("Double a number.", "def double(x):\n    return x * 2\n", "assert True\n"),
    # A 'correct' solution that fails its own tests: variants prove nothing.
    "broken": ("Negate.", "def neg(x):\n    return x\n", "assert neg(1) == -1\n"),
}


def task_sample(key: str, split: str = "train") -> Sample:
    prompt, solution, tests = TASKS[key]
    return Sample(
        sample_id=f"task-{key}", source=Source(kind="eval_question", group_key=key),
        messages=[Message(role="user", content=prompt),
                  Message(role="assistant", content=f"```python\n{solution}```")],
        code=Code(solution=solution, tests=tests),
        provenance=Provenance(content_hash=key, source_path="tests/faults"),
        split=Split(assignment=split, seed=0, group_key=key))


@pytest.fixture()
def bundle_dir(tmp_path):
    from codesft.bundle import write_bundle

    samples = [task_sample(k) for k in TASKS] + [task_sample("clip", "test").model_copy(update={"sample_id": "held"})]
    return write_bundle(samples, [], tmp_path / "bundles", "demo", "1.0.0", {"seed": 0})


@pytest.fixture()
def untested_bundle_dir(tmp_path):
    """A sample with tests and one without (its variants cannot be run)."""
    from codesft.bundle import write_bundle

    untested = task_sample("clip").model_copy(update={"sample_id": "untested"})
    untested.code.tests = None
    return write_bundle([task_sample("count"), untested], [], tmp_path / "untested", "demo", "1.0.0", {"seed": 0})
