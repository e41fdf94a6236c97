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
        # node and SQLite run in the same child, behind the same layers
        Program(id="js_ok", language="javascript", code="const f = () => 1;", test="require('node:assert').strictEqual(f(), 1);"),
        Program(id="js_forge", language="javascript", code="console.log('passed');\\nprocess.exit(0);\\nconst f = () => 2;",
                test="require('node:assert').strictEqual(f(), 1);"),
        Program(id="js_escape", language="javascript",
                code="const fs = require('fs');\\nconsole.log(fs.existsSync('CHECKOUT_README'), fs.existsSync('/root/.bashrc'));\\n"
                     "const s = require('net').connect(22, '127.0.0.1');\\ns.on('connect', () => { console.log('CONNECTED'); s.destroy(); });\\n"
                     "s.on('error', () => console.log('no-net'));"),
        Program(id="js_caps", language="javascript", code="console.log(require('fs').readFileSync('/proc/self/status', 'utf8')"
                                                         ".split('\\\\n').filter((l) => l.startsWith('CapEff')).join(''));"),
        Program(id="sql_ok", language="sql", setup="CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);",
                code="SELECT a FROM t", test='{"rows": [[1]], "order": "ordered"}'),
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
    if shutil.which("node"):
        assert res["js_ok"]["status"] == "passed", res["js_ok"]
        assert res["js_forge"]["status"] == "failed"
        assert res["js_escape"]["stdout"].split() == ["false", "false", "no-net"]
        assert res["js_caps"]["stdout"].split() == ["CapEff:", "0000000000000000"]  # exec'ing node gave no capability back
    assert res["sql_ok"]["status"] == "passed", res["sql_ok"]
    assert leftover_processes(marker) == []
