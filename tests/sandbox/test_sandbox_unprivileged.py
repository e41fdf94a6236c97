"""The sandbox as an ordinary user: the same hostile programs, run by a process without root.

The test drops root by entering a user namespace mapped to uid 1000 (`unshare --user`), so the
sandbox takes its unprivileged path (its own nested user namespace, capabilities dropped)."""

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, os
    from codesft.sandbox import Limits, Program, SandboxPool, probe
    assert os.getuid() != 0
    iso = probe()
    progs = [
        Program(id="ok", code="def f():\\n    return 1\\n", test="assert f() == 1"),
        Program(id="forge", code="import os\\nprint('passed')\\nos._exit(0)\\ndef f():\\n    return 2\\n", test="assert f() == 1"),
        Program(id="kill_all", code="import os, signal\\nos.kill(-1, signal.SIGKILL)"),
        Program(id="fork_bomb", code="import os, time\\n# MARKER\\nwhile True:\\n    try: os.fork()\\n    except OSError: time.sleep(0.01)\\n"),
        Program(id="daemon", code="import subprocess, sys\\nsubprocess.Popen([sys.executable, '-c', 'import time  # MARKER\\\\ntime.sleep(300)'], start_new_session=True)"),
        Program(id="escape", code="import os\\nprint(os.path.exists('CHECKOUT_README'), os.path.exists('/root/.bashrc'))\\n"
                                  "import socket\\ntry:\\n    socket.create_connection(('127.0.0.1', 22), timeout=1); print('CONNECTED')\\nexcept OSError: print('no-net')"),
        Program(id="after", code="x = 1", test="assert x == 1"),
    ]
    res = {r.id: r.model_dump() for r in SandboxPool(Limits(timeout_s=2.0), workers=2).imap(progs)}
    print(json.dumps({"backend": iso.backend, "missing": iso.missing, "results": res}))
""")


def test_hostile_programs_as_ordinary_user(leftover_processes):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux unshare not installed")
    marker = uuid.uuid4().hex
    probe_run = subprocess.run([unshare, "--user", "--map-user=1000", "--map-group=1000", "true"], capture_output=True)
    if probe_run.returncode != 0:
        pytest.skip(f"user namespaces not available: {probe_run.stderr.decode().strip()}")
    readme = str(Path(__file__).resolve().parents[2] / "README.md")
    script = SCRIPT.replace("MARKER", marker).replace("CHECKOUT_README", readme)
    proc = subprocess.run([unshare, "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    res = out["results"]
    assert out["backend"] == "namespaces", out
    assert res["ok"]["status"] == "passed" and res["after"]["status"] == "passed"
    assert res["forge"]["status"] == "failed"
    assert res["fork_bomb"]["status"] in ("timeout", "failed")
    assert res["escape"]["stdout"].split() == ["False", "False", "no-net"]
    assert leftover_processes(marker) == []
