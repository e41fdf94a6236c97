"""The work dir of an augment run: its settings (run.json) and every candidate generated and judged so far
(attempts.jsonl, appended batch by batch), so a killed run resumes without asking the teacher again.

The same design as `codesft sample`'s work log (one write per batch, a torn last line dropped on read), for
another line type."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from codesft.augment.records import Attempt
from codesft.config import ConfigError


class AttemptLog:
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
                raise ConfigError(f"{path} holds an augment run with other settings ({', '.join(diff)}); "
                                  "use --no-resume to start over")
        else:
            run.write_text(json.dumps(settings, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        self.attempts: dict[str, Attempt] = {}
        log = path / "attempts.jsonl"
        if log.is_file():
            with log.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        a = Attempt(**json.loads(line))
                    except (ValueError, TypeError):  # a line cut short by a kill: that batch is redone
                        continue
                    self.attempts[a.key] = a

    def add(self, attempts: list[Attempt]) -> None:
        """Append a batch's attempts (each complete: generated and judged) and flush them to disk."""
        text = "".join(json.dumps(a.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for a in attempts)
        with (self.path / "attempts.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
        self.attempts.update((a.key, a) for a in attempts)
