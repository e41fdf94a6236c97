"""The work dir of an augment run: its settings and every candidate generated and judged so far
(attempts.jsonl), so a killed run resumes without asking the teacher again (`codesft.bundle.staging.WorkLog`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codesft.augment.records import Attempt
from codesft.bundle.staging import WorkLog


class AttemptLog(WorkLog[Attempt]):
    def __init__(self, path: Path, settings: dict[str, Any], resume: bool) -> None:
        super().__init__(path, settings, resume, command="augment", items_file="attempts.jsonl",
                         parse=lambda d: Attempt(**d), key=lambda a: a.key, dump=lambda a: a.to_dict())

    @property
    def attempts(self) -> dict[str, Attempt]:
        return self.items
