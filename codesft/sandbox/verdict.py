"""The parent's verdict: from the nonce-tagged channel events, the exit status and the limits -- never from stdout."""

from __future__ import annotations

import os
import re
import signal

# What node prints before it aborts when V8's heap is full (`--max-old-space-size`). It is on stderr, which the
# program also writes: a program can only use it to turn its own failure into `memory`, never into a pass.
_NODE_OOM = re.compile(rb"FATAL ERROR: .*out of memory")


def verdict(out: dict, nonce: str, program: dict, limits: dict) -> dict:
    events = []
    for raw in out["channel"].decode("utf-8", "replace").splitlines():
        parts = raw.split("\t", 3)
        if len(parts) == 4 and parts[0] == nonce:  # lines without our nonce are forgeries or noise
            events.append((parts[1], int(parts[2]) if parts[2].lstrip("-").isdigit() else -1, parts[3]))
    status_word = out["status"]
    exit_code = os.WEXITSTATUS(status_word) if os.WIFEXITED(status_word) else None
    sig = os.WTERMSIG(status_word) if os.WIFSIGNALED(status_word) else None
    kinds = [e[0] for e in events]
    tests = None
    if program.get("tests"):
        tests = [{"index": i, "passed": False, "error": "did not run"} for i in range(len(program["tests"]))]
        for kind, index, info in events:
            if kind in ("test_pass", "test_fail") and 0 <= index < len(tests):
                tests[index] = {"index": index, "passed": kind == "test_pass", "error": info}
    fail_info = next((info for kind, _, info in events if kind in ("fail", "setup_error", "memory")), "")
    js = program.get("language") == "javascript"
    if out["timed_out"]:
        status, reason = "timeout", f"wall-clock limit of {limits['timeout_s']:g} s exceeded"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and out["rusage"] is not None
                                   and out["rusage"].ru_utime + out["rusage"].ru_stime >= limits["cpu_s"]):
        status, reason = "timeout", f"CPU-time limit of {limits['cpu_s']:g} s exceeded"
    elif "memory" in kinds or out["oom_killed"]:
        status, reason = "memory", (f"memory limit of {limits['memory_mb']} MB exceeded"
                                    + (f" ({fail_info})" if fail_info else " (killed by the OOM killer)"))
    elif "setup_error" in kinds:
        status, reason = "error", f"sandbox could not prepare the child: {fail_info}"
    elif js and "start" not in kinds:
        # The harness reports `start` before the program exists: without it node itself did not come up.
        tail = out["stderr"].decode("utf-8", "replace").strip()[-300:]
        status, reason = "error", f"node did not start the JavaScript harness (the sandbox's fault): {tail or 'no output'}"
    elif js and sig in (signal.SIGABRT, signal.SIGTRAP) and _NODE_OOM.search(out["stderr"]):
        status, reason = "memory", f"memory limit of {limits['memory_mb']} MB exceeded (JavaScript heap out of memory)"
    elif "done" in kinds and exit_code == 0 and not fail_info:
        status, reason = "passed", ""
        expected = program.get("expected_stdout")
        if expected is not None and _norm_out(out["stdout"].decode("utf-8", "replace")) != _norm_out(expected):
            status, reason = "failed", "stdout differs from expected_stdout"
    elif fail_info:
        status, reason = "failed", fail_info
    elif sig is not None:
        status, reason = "failed", f"killed by signal {signal.Signals(sig).name} before the end"
    else:
        status, reason = "failed", f"exited with code {exit_code} before the program finished"
    rss = out["rusage"].ru_maxrss if out["rusage"] is not None else None
    return {"id": program["id"], "status": status, "reason": reason, "exit_code": exit_code, "signal": sig,
            "runtime_s": round(out["runtime"], 4),
            "stdout": out["stdout"].decode("utf-8", "replace"), "stderr": out["stderr"].decode("utf-8", "replace"),
            "stdout_truncated": out["stdout_cut"], "stderr_truncated": out["stderr_cut"],
            "tests": tests, "max_rss_kb": rss}


def _norm_out(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())
