"""JavaScript programs in the sandbox: verdicts, limits, and the hostile programs the Python harness is tested
with (forged verdicts, fork bombs, network, filesystem escapes, daemons), run by the machine's node."""

import os
import shutil
import socket
import threading
import time
import uuid

import pytest

from codesft.sandbox import Program

if shutil.which("node") is None:  # the machine the tests target has /usr/bin/node; elsewhere say why nothing ran
    pytest.skip("node is not installed on this machine", allow_module_level=True)

ASSERT = "const assert = require('node:assert');\n"
TEST = ASSERT + "assert.strictEqual(add(2, 3), 5);\n"
RIGHT = "function add(a, b) {\n  return a + b;\n}\n"
WRONG = "function add(a, b) {\n  return a - b;\n}\n"
NODE_TEST_ASYNC = (ASSERT + "const test = require('node:test');\n"
                   "test('adds after a tick', async () => {\n"
                   "  await new Promise((resolve) => setTimeout(resolve, 30));\n"
                   "  assert.strictEqual(add(2, 3), 5);\n});\n")


def js(pid: str, code: str, test: str | None = None, **fields) -> Program:
    return Program(id=pid, language="javascript", code=code, test=test, **fields)


def hostile(pid: str, prelude: str = "", body: str = "  return a - b;\n", test: str = TEST) -> Program:
    return js(pid, f"{prelude}\nfunction add(a, b) {{\n{body}}}\n", test)


# ---------------------------------------------------------------- verdicts
def test_verdicts(run_prog):
    res = run_prog(
        js("pass", RIGHT, TEST),
        js("assertion", WRONG, TEST),
        js("exception", "function add(a, b) {\n  return a.missing.field;\n}\n", TEST),
        js("syntax", "function add(a, b {\n  return a + b;\n}\n", TEST),
        js("node_test_pass", RIGHT, NODE_TEST_ASYNC),
        js("node_test_fail", WRONG, NODE_TEST_ASYNC),
        js("unhandled_rejection", RIGHT, "Promise.reject(new Error('late failure'));\n"),
        js("async_throw", RIGHT, "setTimeout(() => { throw new TypeError('in a timer'); }, 10);\n"),
        js("recursion", "function f(n) {\n  return f(n + 1) + 1;\n}\nf(0);\n"),
        js("script", "console.log('hello');\n"),
        js("script_exit0", "console.log('bye');\nprocess.exit(0);\n"),
        js("script_exit3", "process.exit(3);\n"),
    )
    assert res["pass"].status == "passed" and res["pass"].exit_code == 0
    assert res["assertion"].status == "failed" and res["assertion"].reason.startswith("test: AssertionError")
    assert "-1 !== 5" in res["assertion"].reason and "<test>:2" in res["assertion"].stderr
    assert res["exception"].status == "failed" and "test: TypeError" in res["exception"].reason
    assert res["syntax"].status == "failed" and res["syntax"].reason.startswith("code: SyntaxError")
    assert res["node_test_pass"].status == "passed" and "ok 1 - adds after a tick" in res["node_test_pass"].stdout
    assert res["node_test_fail"].status == "failed" and "exit code 1" in res["node_test_fail"].reason
    assert "not ok 1" in res["node_test_fail"].stdout
    assert res["unhandled_rejection"].status == "failed" and "late failure" in res["unhandled_rejection"].reason
    assert res["async_throw"].status == "failed" and res["async_throw"].reason.startswith("async: TypeError")
    assert res["recursion"].status == "failed" and "Maximum call stack size exceeded" in res["recursion"].reason
    assert res["script"].status == "passed" and res["script"].stdout == "hello\n"
    assert res["script_exit0"].status == "passed" and res["script_exit3"].status == "failed"


def test_scope_entry_point_per_test_outcomes_and_io(run_prog):
    res = run_prog(
        # setup's helpers and the code's top-level const are in scope of the next stages
        js("scope", "const add = (a, b) => twice(a + b) / 2;\n", TEST, setup="function twice(x) {\n  return 2 * x;\n}\n"),
        js("check_pass", RIGHT, "function check(candidate) {\n  require('node:assert').strictEqual(candidate(2, 3), 5);\n}\n",
           entry_point="add"),
        js("check_fail", WRONG, "function check(candidate) {\n  require('node:assert').strictEqual(candidate(2, 3), 5);\n}\n",
           entry_point="add"),
        js("async_check_fail", WRONG, "async function check(candidate) {\n  await null;\n"
                                      "  require('node:assert').strictEqual(candidate(2, 3), 5);\n}\n", entry_point="add"),
        js("no_entry", "const other = 1;\n", "function check(c) {}\n", entry_point="add"),
        js("per_test", "const sq = (x) => (x === 3 ? 0 : x * x);\n",
           tests=[ASSERT + "assert.strictEqual(sq(2), 4);", ASSERT + "assert.strictEqual(sq(3), 9);",
                  ASSERT + "assert.strictEqual(sq(4), 16);"]),
        js("io_ok", "const [a, b] = require('node:fs').readFileSync(0, 'utf8').split(' ').map(Number);\nconsole.log(a + b);\n",
           stdin="2 3\n", expected_stdout="5\n"),
        js("io_bad", "console.log(6);\n", stdin="2 3\n", expected_stdout="5"),
    )
    assert res["scope"].status == "passed", res["scope"]
    assert res["check_pass"].status == "passed"
    assert res["check_fail"].status == "failed" and res["check_fail"].reason.startswith("check: AssertionError")
    assert res["async_check_fail"].status == "failed" and "unhandled rejection: AssertionError" in res["async_check_fail"].reason
    assert res["no_entry"].status == "failed" and "entry point \"add\" is not defined" in res["no_entry"].reason
    per = res["per_test"]
    assert per.status == "failed" and [t.passed for t in per.tests] == [True, False, True]
    assert "AssertionError" in per.tests[1].error
    assert res["io_ok"].status == "passed" and res["io_bad"].status == "failed"
    assert "expected_stdout" in res["io_bad"].reason


def test_timeouts_and_memory(run_prog):
    res = run_prog(
        js("busy_loop", "while (true) {}\n"),
        js("open_interval", "setInterval(() => {}, 1000);\n", TEST.replace("add(2, 3)", "5")),
        js("heap", "const keep = [];\nwhile (true) keep.push(new Array(1e5).fill(1.5));\n"),
        js("buffer", "const big = Buffer.alloc(3 * 1024 ** 3);\n"),
        timeout_s=4.0, memory_mb=512,
    )
    assert res["busy_loop"].status == "timeout" and res["open_interval"].status == "timeout"
    assert res["heap"].status == "memory" and "JavaScript heap out of memory" in res["heap"].reason
    assert res["buffer"].status == "memory" and "allocation failed" in res["buffer"].reason
    for r in res.values():
        assert r.runtime_s < 4.0 + 1.5, (r.id, r.runtime_s)


# ---------------------------------------------------------------- forged verdicts
FORGERIES = {
    "exit0_top": hostile("exit0_top", "process.exit(0);"),
    "really_exit0": hostile("really_exit0", "process.reallyExit(0);"),
    "exit0_in_function": hostile("exit0_in_function", body="  process.exit(0);\n"),
    "exit_code0": hostile("exit_code0", "process.exitCode = 0;"),
    "print_passed": hostile("print_passed", "console.log('passed');\nconsole.log(JSON.stringify({ status: 'passed' }));"),
    "fake_channel": hostile("fake_channel",
                            "const fs = require('node:fs');\nfor (let fd = 3; fd < 256; fd++) {\n"
                            "  for (const line of ['done\\n', 'x\\tdone\\t-1\\t\\n', '0\\tdone\\t-1\\t\\n']) {\n"
                            "    try { fs.writeSync(fd, line); } catch (e) {}\n  }\n}\nprocess.reallyExit(0);"),
    "close_fds": hostile("close_fds", "const fs = require('node:fs');\n"
                                      "for (let fd = 3; fd < 1024; fd++) { try { fs.closeSync(fd); } catch (e) {} }"),
    "kill_self": hostile("kill_self", "process.kill(process.pid, 'SIGKILL');"),
    "emit_exit": hostile("emit_exit", "process.emit('beforeExit', 0);\nprocess.emit('exit', 0);"),
    "remove_listeners": hostile("remove_listeners", "process.removeAllListeners();"),
    "swallow_errors": hostile("swallow_errors", "process.on('uncaughtException', () => {});\n"
                                                "process.on('unhandledRejection', () => {});",
                              test="setTimeout(() => require('node:assert').strictEqual(add(2, 3), 5), 10);\n"),
    "exit_listener_exit0": hostile("exit_listener_exit0", "process.on('exit', () => process.reallyExit(0));",
                                   test="setTimeout(() => require('node:assert').strictEqual(add(2, 3), 5), 10);\n"),
    "patch_assert": hostile("patch_assert", "require('node:assert').strictEqual = () => {};"),
    "patch_check": js("patch_check", WRONG + "function check() {}\n",
                      "function check(candidate) {\n  require('node:assert').strictEqual(candidate(2, 3), 5);\n}\n",
                      entry_point="add"),
    # node:test runs the tests after the stages: attacks that wait for that moment
    "node_test_emit_exit": hostile("node_test_emit_exit", body="  process.emit('beforeExit', 0);\n  process.emit('exit', 0);\n"
                                                               "  return a - b;\n", test=NODE_TEST_ASYNC),
    "node_test_exit0": hostile("node_test_exit0", body="  process.exit(0);\n", test=NODE_TEST_ASYNC),
    "node_test_reset_code": hostile("node_test_reset_code", "process.on('beforeExit', () => { process.exitCode = 0; });",
                                    test=NODE_TEST_ASYNC),
}


def test_forged_verdicts_never_pass(run_prog):
    results = run_prog(*FORGERIES.values())
    for pid, result in results.items():
        assert result.status == "failed", (pid, result)
        assert result.reason, pid
    assert "process.exit(0) called before the program finished" in results["exit0_top"].reason
    assert results["kill_self"].signal == 9


def test_killing_parent_group_and_everything_does_not_stop_the_run(run_prog):
    attacks = [js("kill_ppid", "process.kill(process.ppid, 'SIGKILL');"),
               js("kill_pgrp", "process.kill(-process.pid, 'SIGKILL');"),
               js("kill_all", "try { process.kill(-1, 'SIGKILL'); } catch (e) {}"),
               js("kill_1", "for (const s of ['SIGTERM', 'SIGKILL']) { try { process.kill(1, s); } catch (e) {} }")]
    good = [js(f"good{i}", f"const x = {i};", ASSERT + f"assert.strictEqual(x, {i});") for i in range(4)]
    results = run_prog(*attacks, *good)
    assert all(results[f"good{i}"].status == "passed" for i in range(4)), results
    assert all(results[a.id].status in ("passed", "failed") for a in attacks)


# ---------------------------------------------------------------- processes
def test_fork_bomb_and_detached_processes_are_contained(run_prog, leftover_processes):
    marker = uuid.uuid4().hex
    daemon = f"setInterval(() => {{}}, 1000); // {marker}"
    programs = [
        js("fork_bomb", f"// {marker}\nconst cp = require('node:child_process');\n"
                        "function more() {\n  for (let i = 0; i < 8; i++) {\n"
                        f"    try {{ cp.spawn(process.execPath, ['-e', {daemon!r}], {{ stdio: 'ignore', detached: true }}); }}"
                        " catch (e) {}\n  }\n  setImmediate(more);\n}\nmore();\n"),
        js("detached", "const cp = require('node:child_process');\n"
                       f"cp.spawn(process.execPath, ['-e', {daemon!r}], {{ stdio: 'ignore', detached: true }}).unref();\n",
           ASSERT + "assert.ok(true);\n"),
        js("double_fork", "const cp = require('node:child_process');\n"
                          f"cp.spawn('/bin/sh', ['-c', 'sleep 300 & # {marker}'], {{ stdio: 'ignore', detached: true }}).unref();\n"),
    ]
    start = time.monotonic()
    results = run_prog(*programs, timeout_s=4.0)
    assert time.monotonic() - start < 60
    assert results["fork_bomb"].status in ("failed", "timeout"), results["fork_bomb"]
    assert results["detached"].status == "passed", results["detached"]
    assert results["double_fork"].status == "passed", results["double_fork"]
    time.sleep(0.3)
    assert leftover_processes(marker) == []


# ---------------------------------------------------------------- filesystem, environment, network
def test_filesystem_is_private(run_prog, full_isolation, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    host_tmp_name = f"/tmp/codesft-js-escape-{uuid.uuid4().hex}"
    this_file = os.path.abspath(__file__)
    checkout_readme = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(this_file))), "README.md")
    reads = [str(canary), this_file, checkout_readme, "/root/.bashrc", "/etc/shadow"]
    writes = [str(canary), "/usr/evil", host_tmp_name]
    code = f"""const fs = require('node:fs');
const seen = {{}};
for (const path of {reads!r}) {{
  try {{ fs.readFileSync(path); seen[path] = 'WAS_READ'; }} catch (e) {{ seen[path] = e.code; }}
}}
for (const path of {writes!r}) {{
  try {{ fs.writeFileSync(path, 'owned'); }} catch (e) {{}}
}}
fs.writeFileSync('local.txt', 'ok');
console.log(JSON.stringify(seen));
"""
    res = run_prog(js("fs", code))["fs"]
    assert res.status == "passed", res
    assert "WAS_READ" not in res.stdout, res.stdout
    assert canary.read_text() == "untouched"
    assert not os.path.exists(host_tmp_name) and not os.path.exists("/usr/evil")


def test_environment_is_scrubbed(run_prog, monkeypatch):
    monkeypatch.setenv("CODESFT_FAKE_SECRET", "sk-test-canary-0123456789")
    res = run_prog(js("env", "console.log(JSON.stringify(process.env));\n"
                             "console.log(require('node:fs').readFileSync('/proc/self/environ', 'utf8'));"))["env"]
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
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    code = f"""const net = require('node:net');
const hosts = ['127.0.0.1', 'localhost', '::1', '8.8.8.8'];
const outcomes = [];
function next(i) {{
  if (i === hosts.length) {{ console.log(JSON.stringify(outcomes)); return; }}
  const s = net.connect({{ host: hosts[i], port: {port}, timeout: 1000 }});
  s.on('connect', () => {{ outcomes.push('CONNECTED'); s.destroy(); next(i + 1); }});
  s.on('error', (e) => {{ outcomes.push(e.code); next(i + 1); }});
  s.on('timeout', () => {{ outcomes.push('TIMEOUT'); s.destroy(); next(i + 1); }});
}}
next(0);
require('node:dns').lookup('example.com', (err) => console.log('dns', err && err.code));
"""
    try:
        res = run_prog(js("net", code))["net"]
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert res.status == "passed", res
    assert "CONNECTED" not in res.stdout and "dns ENOTFOUND" in res.stdout
    assert accepted == []


# ---------------------------------------------------------------- node itself
def test_without_node_a_javascript_program_is_an_error_not_a_verdict(run_prog, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where no node is
    res = run_prog(js("ok", RIGHT, TEST), Program(id="py", code="x = 1", test="assert x == 1"))
    assert res["ok"].status == "error", res["ok"]
    assert "node (Node.js) is not installed or not on PATH" in res["ok"].reason
    assert res["py"].status == "passed"


def test_node_outside_usr_is_bound_into_the_private_root(run_prog, full_isolation, monkeypatch, tmp_path):
    """A node under /tmp (nvm, a tarball under /opt): its directory is shown, read-only; its neighbours are not."""
    bindir = tmp_path / "node-dist" / "bin"
    bindir.mkdir(parents=True)
    try:
        os.link(shutil.which("node"), bindir / "node")
    except OSError:
        shutil.copy2(shutil.which("node"), bindir / "node")
    (tmp_path / "node-dist" / "secret.txt").write_text("not for programs")
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    code = (f"const fs = require('node:fs');\nconsole.log(process.execPath);\n"
            f"console.log(fs.existsSync({str(tmp_path / 'node-dist' / 'secret.txt')!r}));\n"
            f"try {{ fs.writeFileSync({str(bindir / 'x')!r}, 'x'); console.log('WROTE'); }} catch (e) {{ console.log(e.code); }}\n")
    res = run_prog(js("moved", code))["moved"]
    assert res.status == "passed", res
    assert res.stdout.split() == [str(bindir / "node"), "false", "EROFS"]
