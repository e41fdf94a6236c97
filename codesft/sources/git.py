"""git: commits of a local repository (or a `git bundle` file) -> instruction samples, OctoPack-style.

Each commit that changes exactly one source file becomes: commit message -> instruction,
file before -> input, file after -> output. Filters (each drop is recorded with its reason):
merge commits, commits touching several files or binary files, new/deleted files (optional),
non-imperative messages, files over a size limit, unknown languages, repository license not on
the allowlist. Uses the `git` CLI only (no libgit2 dependency). A directory must be a repository's
root (or a bare repository): a directory inside a repository is refused, not read as that repository.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

from codesft.curate.redact import excerpt
from codesft.schema import ArtifactRef, Code, Message, Sample
from codesft.sources.base import ReadError, Where, build_sample, fenced

KIND = "commit"
EXTENSIONS = {".py": "python", ".js": "javascript", ".ts": "typescript", ".java": "java", ".go": "go",
              ".rs": "rust", ".c": "c", ".h": "c", ".cpp": "cpp", ".cc": "cpp", ".hpp": "cpp", ".rb": "ruby",
              ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".swift": "swift", ".scala": "scala",
              ".sh": "shell", ".sql": "sql", ".jsx": "javascript", ".tsx": "typescript"}
# OctoPack keeps commits whose message starts with an imperative verb; this is the common head of its list.
IMPERATIVE_VERBS = frozenset("""add adjust allow apply avoid bump change check clarify clean cleanup convert correct
create deprecate disable drop enable enforce ensure expose extend extract fix flatten format handle harden ignore
implement improve include increase introduce limit make merge migrate move normalize optimize prevent raise reduce
refactor remove rename reorder replace resolve restore restrict return reuse revert rewrite set simplify skip sort
speed split stop support switch test tidy tweak update upgrade use validate wrap""".split())
PERMISSIVE = ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Unlicense", "CC0-1.0", "MPL-2.0",
              "0BSD", "Zlib"]
_LICENSE_MARKERS = [("Apache-2.0", "apache license"), ("MIT", "permission is hereby granted, free of charge"),
                    ("BSD-3-Clause", "neither the name"), ("BSD-2-Clause", "redistributions in binary form"),
                    ("ISC", "permission to use, copy, modify, and/or distribute"), ("Unlicense", "unlicense"),
                    ("MPL-2.0", "mozilla public license"), ("GPL-3.0", "gnu general public license"),
                    ("CC0-1.0", "cc0")]


def _git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), *args], input=input,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def repo_root_problem(path: Path) -> str | None:
    """Why `path` is not a repository root (None when it is one). A directory inside a repository is
    refused: git would read the enclosing repository's history, which the user did not name."""
    here = path.resolve()
    try:
        git_dir = Path(_git(path, "rev-parse", "--absolute-git-dir").decode().strip()).resolve()
    except RuntimeError:
        return f"{path} is not a git repository"
    if git_dir == here:  # a bare repository, or a .git directory named directly
        return None
    try:
        top = Path(_git(path, "rev-parse", "--show-toplevel").decode().strip()).resolve()
    except RuntimeError:
        top = git_dir
    if top == here:
        return None
    return (f"{path} is inside the git repository at {top} but is not its root; name the repository root "
            "(a directory inside a repository is not read as one)")


def detect_license(text: str) -> str | None:
    low = text.lower()
    for spdx, marker in _LICENSE_MARKERS:
        if marker in low:
            return spdx
    return None


def _repo_license(repo: Path) -> str | None:
    names = _git(repo, "ls-tree", "--name-only", "HEAD").decode(errors="replace").splitlines()
    for name in names:
        if name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            return detect_license(_git(repo, "show", f"HEAD:{name}").decode(errors="replace"))
    return None


def is_imperative(message: str) -> bool:
    words = re.findall(r"[A-Za-z]+", message.split("\n", 1)[0])
    return len(words) >= 2 and words[0].lower() in IMPERATIVE_VERBS


class _Blobs:
    """One `git cat-file --batch` process for all blob reads (a subprocess per file is 100x slower)."""

    def __init__(self, repo: Path):
        self.proc = subprocess.Popen(["git", "-c", "safe.directory=*", "-C", str(repo), "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def get(self, spec: str) -> bytes | None:
        self.proc.stdin.write(spec.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            return None
        data = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)
        return data

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _commits(repo: Path) -> Iterator[tuple[str, list[str], str, str, list[tuple[str, str, str]]]]:
    out = _git(repo, "log", "--reverse", "--no-renames", "--numstat", "--format=%x1e%H%x1f%P%x1f%aI%x1f%B%x1f",
               "HEAD").decode("utf-8", errors="replace")
    for chunk in out.split("\x1e")[1:]:
        sha, parents, date, message, stats = chunk.split("\x1f", 4)
        files = [tuple(line.split("\t", 2)) for line in stats.strip().splitlines() if line.count("\t") >= 2]
        yield sha, parents.split(), date, message.strip(), files


def read(path: str | Path, *, max_file_chars: int = 20000, min_message_words: int = 2,
         require_imperative: bool = True, allow_new_files: bool = False, license_allowlist: list[str] | None = None,
         license: str | None = None, **_: Any) -> Iterator[Sample | ReadError]:
    given = str(path)
    src = Path(path)
    if not src.exists():
        yield ReadError(given, None, f"input not found: {given}")
        return
    tmp = None
    try:
        if src.is_file():  # a `git bundle` file: clone it into a private temp dir
            tmp = tempfile.mkdtemp(prefix="codesft-git-")
            subprocess.run(["git", "clone", "-q", str(src.resolve()), tmp], check=True, capture_output=True)
            repo = Path(tmp)
        elif problem := repo_root_problem(src):
            yield ReadError(given, None, problem)
            return
        else:
            repo = src
        yield from _read_repo(repo, given, max_file_chars, min_message_words, require_imperative,
                              allow_new_files, PERMISSIVE if license_allowlist is None else license_allowlist, license)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        yield ReadError(given, None, f"unreadable git repository: {exc}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# size: one pass over the commit log, each commit going through the same checks in order
def _read_repo(repo: Path, given: str, max_chars: int, min_words: int, imperative: bool, allow_new: bool,
               allowlist: list[str], license: str | None) -> Iterator[Sample | ReadError]:
    lic = license or _repo_license(repo)
    repo_name = Path(given).name.removesuffix(".bundle").removesuffix(".git")
    blobs = _Blobs(repo)
    try:
        for sha, parents, date, message, files in _commits(repo):
            where = f"{given}@{sha[:12]}"

            def reject(reason: str) -> ReadError:
                return ReadError(where, None, f"git_filter: {reason}", excerpt(message, 500))

            if allowlist and lic not in allowlist:
                yield reject(f"license {lic or 'unknown'} not in allowlist")
                continue
            if len(parents) > 1:
                yield reject("merge commit")
                continue
            if len(files) != 1:
                yield reject(f"changes {len(files)} files (exactly one wanted)")
                continue
            added, deleted, fpath = files[0]
            if added == "-":
                yield reject(f"binary file {fpath}")
                continue
            language = EXTENSIONS.get(Path(fpath).suffix.lower())
            if language is None:
                yield reject(f"not a source file: {fpath}")
                continue
            if len(message.split()) < min_words or (imperative and not is_imperative(message)):
                yield reject("message is not an imperative instruction")
                continue
            before_b = blobs.get(f"{parents[0]}:{fpath}") if parents else None
            after_b = blobs.get(f"{sha}:{fpath}")
            if after_b is None:
                yield reject(f"deletes {fpath}")
                continue
            if before_b is None and not allow_new:
                yield reject(f"creates {fpath}")
                continue
            before = (before_b or b"").decode("utf-8", errors="replace")
            after = after_b.decode("utf-8", errors="replace")
            if max(len(before), len(after)) > max_chars:
                yield reject(f"file over {max_chars} characters")
                continue
            raw = f"{sha}\x00{fpath}\x00{message}"
            user = f"{message}\n\nFile `{fpath}`:\n{fenced(before, language)}" if before else \
                f"{message}\n\nCreate the file `{fpath}`."
            # The id depends on the commit and the file only, not on where the repository lies or how it was named.
            sample = build_sample(
                kind=KIND, at=Where(given, None, ""), raw=raw, location=f"{sha}:{fpath}", record_id=sha,
                group_key=f"{KIND}:{repo_name}:{fpath}", artifact_kind="commit",
                messages=[Message(role="user", content=user), Message(role="assistant", content=fenced(after, language))],
                code=Code(language=language, solution=after, before=before or None),
                metadata={"category": "commit", "language": language, "tags": ["git"]},
                license=lic, base_commit=parents[0] if parents else None, patch_ref=f"{sha}:{fpath}", generated_at=date,
            )
            sample.source.artifact_refs.append(ArtifactRef(path=f"{sha}:{fpath}", kind="blob",
                                                           content_hash=hashlib.sha256(after_b).hexdigest()))
            if before_b is not None:
                sample.source.artifact_refs.append(ArtifactRef(path=f"{parents[0]}:{fpath}", kind="blob",
                                                               content_hash=hashlib.sha256(before_b).hexdigest()))
            yield sample
    finally:
        blobs.close()
