import os
from pathlib import Path

import pytest

from codesft.sandbox import Limits, Program, SandboxPool, probe


@pytest.fixture(scope="session")
def isolation():
    return probe("auto")


@pytest.fixture(scope="session")
def full_isolation(isolation):
    if isolation.backend != "namespaces":
        pytest.skip(f"namespaces backend unavailable here; in force: {isolation.summary()}")
    return isolation


@pytest.fixture()
def run_prog():
    """Run programs through the public API with short limits; returns {id: Result}."""

    def _run(*programs: Program, **limit_overrides):
        limits = Limits(**{"timeout_s": 3.0, **limit_overrides})
        pool = SandboxPool(limits, workers=2)
        results = {r.id: r for r in pool.imap(programs)}
        assert set(results) == {p.id for p in programs}
        return results

    return _run


@pytest.fixture()
def leftover_processes():
    return processes_with


def processes_with(marker: str) -> list[int]:
    """Host PIDs whose command line contains marker (leftover daemons)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found
