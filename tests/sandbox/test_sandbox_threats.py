"""One hostile program (at least) per threat class of the sandbox issue; each asserts the verdict
and the absence of side effects. Safe on a developer machine: every program is bounded by the
sandbox's limits and the test's own timeouts."""

import os
import socket
import sys
import threading
import time
import uuid


from codesft.sandbox import Program

WRONG = "def add(a, b):\n    return a - b\n"
TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


def hostile(pid: str, prelude: str = "", body: str = "    return a - b\n") -> Program:
    return Program(id=pid, code=f"{prelude}\ndef add(a, b):\n{body}", test=TEST, entry_point="add")


# ---------------------------------------------------------------- forged verdicts
FORGERIES = {
    "sys_exit_top": hostile("sys_exit_top", "import sys\nsys.exit(0)"),
    "os_exit_top": hostile("os_exit_top", "import os\nos._exit(0)"),
    "systemexit_in_function": hostile("systemexit_in_function", body="    raise SystemExit(0)\n"),
    "os_exit_in_function": hostile("os_exit_in_function", body="    import os; os._exit(0)\n"),
    "atexit_exit0": hostile("atexit_exit0", "import atexit, os\natexit.register(lambda: os._exit(0))"),
    "excepthook": hostile("excepthook", "import sys\nsys.excepthook = lambda *a: None"),
    "print_passed": hostile("print_passed", "print('passed')\nprint('{\"status\": \"passed\", \"passed\": true}')"),
    "close_fds": hostile("close_fds", "import os\nos.closerange(0, 1024)"),
    "builtins_module": Program(id="builtins_module",
                               code="import builtins\nbuiltins.all = lambda *a: True\nbuiltins.abs = lambda x: 0\n" + WRONG,
                               test="assert all([add(2, 3) == 5])\nassert abs(add(2, 3) - 5) < 1e-9\n"),
    "builtins_dict": Program(id="builtins_dict",
                             code="__builtins__['all'] = lambda *a: True\n" + WRONG,
                             test="assert all([add(2, 3) == 5])\n"),
    "patch_check": Program(id="patch_check", code=WRONG + "def check(c):\n    return True\n", test=TEST,
                           entry_point="add"),
    "fake_channel": hostile("fake_channel",
                            "import os\nfor fd in range(3, 256):\n"
                            "    for line in (b'done\\n', b'x\\tdone\\t-1\\t\\n', b'0\\tdone\\t-1\\t\\n'):\n"
                            "        try: os.write(fd, line)\n        except OSError: pass\n"
                            "os._exit(0)"),
    "sigterm_self_ok": hostile("sigterm_self_ok", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
}


def test_forged_verdicts_never_pass(run_prog):
    results = run_prog(*FORGERIES.values())
    for pid, result in results.items():
        assert result.status == "failed", (pid, result)
        assert result.reason, pid
    assert "SystemExit(0)" in results["systemexit_in_function"].reason
    assert "exited with code 0" in results["os_exit_top"].reason


def test_correct_program_passes_and_reasons_are_specific(run_prog):
    ok = Program(id="ok", code="def add(a, b):\n    return a + b\n", test=TEST, entry_point="add")
    bad = hostile("bad")
    res = run_prog(ok, bad)
    assert res["ok"].status == "passed" and res["ok"].exit_code == 0
    assert res["bad"].status == "failed" and "check: AssertionError" in res["bad"].reason
    assert "<program>" not in res["ok"].stderr


# ---------------------------------------------------------------- attacks on the harness
def test_killing_parent_group_and_everything_does_not_stop_the_run(run_prog):
    attacks = [
        Program(id="kill_ppid", code="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"),
        Program(id="kill_pgrp", code="import os, signal\nos.killpg(0, signal.SIGKILL)"),
        Program(id="kill_all", code="import os, signal\nos.kill(-1, signal.SIGKILL)"),
        Program(id="kill_1", code="import os, signal\nfor s in (signal.SIGTERM, signal.SIGKILL):\n    try: os.kill(1, s)\n    except OSError: pass\n"),
    ]
    good = [Program(id=f"good{i}", code=f"x = {i}", test=f"assert x == {i}") for i in range(6)]
    results = run_prog(*attacks, *good)
    for i in range(6):
        assert results[f"good{i}"].status == "passed"
    assert all(results[a.id].status in ("passed", "failed") for a in attacks)


# ---------------------------------------------------------------- resource abuse
def test_resource_abuse_ends_within_bounds(run_prog, leftover_processes):
    marker = uuid.uuid4().hex
    programs = [
        Program(id="loop", code="while True:\n    pass\n"),
        Program(id="sleep_ignoring_term", code="import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(100)\n"),
        Program(id="memory_bomb", code="x = bytearray(50 * 1024 ** 3)\n"),
        Program(id="memory_growth", code="chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 ** 2))\n"),
        Program(id="fork_bomb", code=f"import os, time\n# {marker}\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"),
        Program(id="output_flood", code="import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"),
        Program(id="disk_fill", code="with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n"),
        Program(id="fd_exhaustion", code="fs = []\nwhile True:\n    fs.append(open('/dev/null'))\n"),
        Program(id="spinning_threads", code="import threading\ndef spin():\n    while True: pass\nfor _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\nspin()\n"),
        Program(id="stack_overflow", code="import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"),
        Program(id="segfault", code="import ctypes\nctypes.string_at(0)\n"),
    ]
    start = time.monotonic()
    # 4 s leaves memory bombs time to hit their limit on a loaded 2-core machine.
    results = run_prog(*programs, timeout_s=4.0, memory_mb=512, max_file_mb=16)
    elapsed = time.monotonic() - start
    assert elapsed < 60, elapsed  # bounded: ~11 programs x 4 s timeout on 2 workers plus set-up
    expect = {
        "loop": {"timeout"}, "sleep_ignoring_term": {"timeout"}, "memory_bomb": {"memory"},
        "memory_growth": {"memory"}, "fork_bomb": {"timeout", "failed"}, "output_flood": {"timeout"},
        "disk_fill": {"failed"}, "fd_exhaustion": {"failed"}, "spinning_threads": {"timeout"},
        "stack_overflow": {"failed", "memory", "timeout"}, "segfault": {"failed"},
    }
    for pid, allowed in expect.items():
        assert results[pid].status in allowed, (pid, results[pid])
        assert results[pid].runtime_s < 4.0 + 1.5, (pid, results[pid].runtime_s)
    assert results["segfault"].signal == 11 and "SIGSEGV" in results["segfault"].reason
    flood = results["output_flood"]
    assert flood.stdout_truncated and len(flood.stdout) <= 1 << 20
    assert "No space left" in results["disk_fill"].reason or "File too large" in results["disk_fill"].reason
    assert "Too many open files" in results["fd_exhaustion"].reason
    assert leftover_processes(marker) == []


# ---------------------------------------------------------------- persistence
def test_daemons_do_not_outlive_their_program(run_prog, leftover_processes):
    marker = uuid.uuid4().hex
    daemon = f"import time  # {marker}\ntime.sleep(300)"
    programs = [
        Program(id="new_session", code=f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {daemon!r}], start_new_session=True)\n"),
        Program(id="double_fork", code=f"import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, '-c', {daemon!r}])\n    os._exit(0)\n"),
    ]
    results = run_prog(*programs)
    assert all(r.status == "passed" for r in results.values()), results
    time.sleep(0.2)
    assert leftover_processes(marker) == []


# ---------------------------------------------------------------- filesystem
def test_filesystem_is_private(run_prog, full_isolation, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    host_tmp_name = f"/tmp/codesft-escape-{uuid.uuid4().hex}"
    this_file = os.path.abspath(__file__)
    # The checkout's files, not its path: a venv inside the checkout is bound, so the path leading to it exists.
    checkout_readme = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(this_file))), "README.md")
    probe_code = f"""
import os
seen = {{}}
for path in ({str(canary)!r}, {this_file!r}, '/root/.bashrc', {checkout_readme!r}, '/etc/shadow'):
    try:
        open(path).read() if not os.path.isdir(path) else os.listdir(path)
        seen[path] = 'WAS_READ'
    except OSError as exc:
        seen[path] = type(exc).__name__
print(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])
for attempt in (lambda: open({str(canary)!r}, 'w').write('owned'), lambda: os.remove({str(canary)!r}),
                lambda: open('/usr/evil', 'w'), lambda: open({host_tmp_name!r}, 'w').write('x')):
    try:
        attempt()
    except OSError:
        pass
open('local.txt', 'w').write('ok')
print(seen)
"""
    res = run_prog(Program(id="fs", code=probe_code))["fs"]
    assert res.status == "passed", res
    assert "WAS_READ" not in res.stdout, res.stdout
    # /root may hold the read-only runtime (a pyenv interpreter lives there), but nothing else of the home.
    root_listing = eval(res.stdout.splitlines()[0])  # noqa: S307 - our own program's repr output
    runtime_tops = {p.split("/")[2] for p in (sys.prefix, sys.base_prefix) if p.startswith("/root/")}
    assert set(root_listing) <= runtime_tops, root_listing
    assert canary.read_text() == "untouched"
    assert not os.path.exists(host_tmp_name)
    assert not os.path.exists("/usr/evil")


# ---------------------------------------------------------------- secrets and network
def test_environment_is_scrubbed(run_prog, monkeypatch):
    monkeypatch.setenv("CODESFT_FAKE_SECRET", "sk-test-canary-0123456789")
    res = run_prog(Program(id="env", code="import os\nprint(sorted(os.environ.items()))"))["env"]
    assert res.status == "passed"
    assert "sk-test-canary" not in res.stdout and "CODESFT_FAKE_SECRET" not in res.stdout


def test_no_network_not_even_loopback(run_prog, full_isolation):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    code = f"""
import socket
outcomes = []
for host in ('127.0.0.1', 'localhost', '::1', '8.8.8.8'):
    try:
        socket.create_connection((host, {port}), timeout=1).close()
        outcomes.append('CONNECTED')
    except OSError as exc:
        outcomes.append(type(exc).__name__)
print(outcomes)
"""
    try:
        res = run_prog(Program(id="net", code=code))["net"]
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert res.status == "passed", res
    assert "CONNECTED" not in res.stdout
    assert accepted == []
