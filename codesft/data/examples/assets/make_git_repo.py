"""Build examples/assets/sample_repo.bundle: a tiny Python project whose history exercises every git filter.

A git repository cannot be committed inside another one, so the example ships as a `git bundle`
(which the `git` reader clones) and this script rebuilds it byte-for-byte: author, committer and
dates are fixed. Usage: python examples/assets/make_git_repo.py [OUT.bundle]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

MIT = """MIT License

Copyright (c) 2024 Example Authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, subject to the following
conditions: The above copyright notice and this permission notice shall be included in all copies.
"""

# (message, {path: content or None to delete})
HISTORY = [
    ("Initial commit", {"LICENSE": MIT, "stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n",
                        "README.md": "# stats\n"}),
    ("Fix mean of an empty list", {"stats.py": "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n"}),
    ("Add median", {"stats.py": "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n\n\n"
                                "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    if n == 0:\n        return 0.0\n"
                                "    mid = n // 2\n    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2\n"}),
    ("wip", {"stats.py": "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n\n\n"
                         "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    if n == 0:\n        return 0.0\n"
                         "    mid = n // 2\n    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2\n# todo\n"}),
    ("Update docs and code together", {"README.md": "# stats\n\nmean and median.\n", "stats.py":
                                       "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n\n\n"
                                       "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    if n == 0:\n        return 0.0\n"
                                       "    mid = n // 2\n    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2\n"}),
    ("Add mode helper", {"modes.py": "from collections import Counter\n\n\ndef mode(xs):\n    return Counter(xs).most_common(1)[0][0]\n"}),
    ("Handle ties in mode by returning the smallest value", {"modes.py":
        "from collections import Counter\n\n\ndef mode(xs):\n    counts = Counter(xs)\n    best = max(counts.values())\n"
        "    return min(x for x, c in counts.items() if c == best)\n"}),
    ("Rename variable in median for clarity", {"stats.py":
        "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n\n\n"
        "def median(xs):\n    ordered = sorted(xs)\n    n = len(ordered)\n    if n == 0:\n        return 0.0\n"
        "    mid = n // 2\n    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2\n"}),
]


def build(out: Path) -> Path:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Example Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
           "GIT_COMMITTER_NAME": "Example Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "sample_repo"
        repo.mkdir()
        git = lambda *a, **kw: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, env={**env, **kw})
        git("init", "-q", "-b", "main")
        for i, (message, files) in enumerate(HISTORY):
            for path, content in files.items():
                (repo / path).write_text(content)
                git("add", path)
            date = f"2024-01-{i + 1:02d}T12:00:00+00:00"
            git("commit", "-q", "-m", message, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        out.parent.mkdir(parents=True, exist_ok=True)
        git("bundle", "create", str(out.resolve()), "--all")
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("sample_repo.bundle"))))
