"""The work dir of a sample run: its settings (run.json) and every answer generated and executed so far
(answers.jsonl, appended batch by batch), so a killed run resumes without redoing any of them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codesft.config import ConfigError
from codesft.sample.answers import Answer


class WorkLog:
    def __init__(self, path: Path, settings: dict[str, Any], resume: bool) -> None:
        self.path = path
        if not resume and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        run = path / "run.json"
        if run.is_file():
            old = json.loads(run.read_text(encoding="utf-8"))
            if old != settings:
                diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise ConfigError(f"{path} holds a sample run with other settings ({', '.join(diff)}); "
                                  "use --no-resume to start over")
        else:
            run.write_text(json.dumps(settings, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        self.answers: dict[str, Answer] = {a.key: a for a in self._read()}

    def _read(self) -> Iterable[Answer]:
        log = self.path / "answers.jsonl"
        if not log.is_file():
            return []
        out = []
        with log.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(Answer(**json.loads(line)))
                except (ValueError, TypeError):  # a line cut short by a kill: that answer is redone
                    continue
        return out

    def add(self, answers: list[Answer]) -> None:
        """Append a batch's answers (each complete: generated and executed) and flush them to disk."""
        # One write per batch: a kill leaves the batch logged whole or (rarely) with a torn last line, which
        # `_read` drops, so a resumed run sends the same batches again.
        text = "".join(json.dumps(a.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for a in answers)
        with (self.path / "answers.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
        self.answers.update((a.key, a) for a in answers)
