"""What runs inside the sandboxed child: the program, its tests and check(), then a verdict event.

The verdict is not the exit code and not stdout. The child reports on a private pipe, each line
tagged with a per-program nonce the parent made; the parent counts a program as passed only when
the `done` event with that nonce arrives AND the process then exits 0 within the limits. A program
that calls sys.exit(0)/os._exit(0) early, raises SystemExit inside the function under test, prints
"passed", closes fds or registers atexit hooks never produces that event.

Everything this module uses after the program starts is bound here at import time (in the
worker, before any program runs), so a program that monkeypatches os/json/builtins cannot change
how the verdict is written.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import traceback

# Snapshot before any program exists: each stage gets a fresh copy, so a program that rebinds
# builtins (builtins.all = lambda *_: True, __builtins__["len"] = ...) cannot weaken its tests.
_PRISTINE_BUILTINS = dict(builtins.__dict__)
_os_write = os.write
_os_exit = os._exit
_compile = compile
_exec = exec
_extract_tb = traceback.extract_tb
_format_list = traceback.format_list
_format_exc_only = traceback.format_exception_only
_HERE = __file__
_BaseException = BaseException
_SystemExit = SystemExit
_MemoryError = MemoryError
_RecursionError = RecursionError


def _clean(text: str, limit: int = 500) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")[:limit]


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        msg = str(exc)
    except _BaseException:  # a hostile __str__ must not break the report
        msg = "<unprintable>"
    return f"{name}: {msg}" if msg else name


class _Channel:
    def __init__(self, fd: int, nonce: str) -> None:
        self.fd = fd
        self.nonce = nonce

    def emit(self, event: str, index: int = -1, info: str = "") -> None:
        line = f"{self.nonce}\t{event}\t{index}\t{_clean(info)}\n".encode("utf-8", "backslashreplace")
        try:
            _os_write(self.fd, line)
        except _BaseException:
            # The program closed or replaced our fd: we cannot report, so the parent sees no
            # `done` event and the verdict stays "failed" -- the safe direction.
            pass


def _program_traceback(exc: BaseException) -> str:
    # Only the program's frames: the harness's own frames are noise for whoever debugs the program.
    frames = [f for f in _extract_tb(exc.__traceback__) if f.filename != _HERE]
    head = "Traceback (most recent call last):\n" if frames else ""
    return head + "".join(_format_list(frames)) + "".join(_format_exc_only(type(exc), exc))


def _fresh_stdio() -> None:
    # The worker's own sys.std* point at its protocol pipes; the child gets objects bound to
    # the fds the parent wired up (0, 1, 2).
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8",
                                 errors="replace")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except _BaseException:
            pass


def _run_stage(source: str, filename: str, namespace: dict) -> None:
    namespace["__builtins__"] = dict(_PRISTINE_BUILTINS)
    _exec(_compile(source, filename, "exec"), namespace)


# size: the program runs in this one frame so that nothing it does can reach a caller frame; the steps stay in order in one place
def execute(program: dict, nonce: str, channel_fd: int) -> None:
    """Run one Python program in this (already sandboxed) process and exit. Never returns."""
    chan = _Channel(channel_fd, nonce)
    _fresh_stdio()
    sys.argv = ["main.py"]
    test = program.get("test")
    tests = program.get("tests") or []
    entry_point = program.get("entry_point")
    # Script mode (no tests at all): the program's own end -- including sys.exit(0) -- is its end.
    script_mode = not test and not tests and not entry_point
    namespace: dict = {"__name__": "__main__" if script_mode else "__codesft__"}
    stage = "code"
    failed = False
    try:
        if program.get("setup"):
            stage = "setup"
            _run_stage(program["setup"], "<setup>", namespace)
            stage = "code"
        _run_stage(program["code"], "<program>", namespace)
        if test:
            stage = "test"
            _run_stage(test, "<test>", namespace)
        for index, snippet in enumerate(tests):
            stage = f"tests[{index}]"
            try:
                _run_stage(snippet, f"<test {index}>", namespace)
                chan.emit("test_pass", index)
            except _SystemExit as exc:
                chan.emit("test_fail", index, f"SystemExit({exc.code!r}) raised before the test finished")
                failed = True
            except _BaseException as exc:  # noqa: BLE001 - every failure of a test is a verdict
                chan.emit("test_fail", index, _describe(exc))
                failed = True
        if entry_point:
            stage = "check"
            namespace["__builtins__"] = dict(_PRISTINE_BUILTINS)
            check = namespace.get("check")
            if check is None:
                raise NameError("the test defines no check() function but entry_point was given")
            if entry_point not in namespace:
                raise NameError(f"entry point {entry_point!r} is not defined by the program")
            check(namespace[entry_point])
    except _SystemExit as exc:
        if not (script_mode and exc.code in (None, 0)):
            _flush()
            chan.emit("fail", -1, f"{stage}: SystemExit({exc.code!r}) raised before the program finished")
            _os_exit(1)
    except _MemoryError:
        _flush()
        chan.emit("memory", -1, f"{stage}: MemoryError")
        _os_exit(1)
    except _BaseException as exc:  # noqa: BLE001
        try:
            sys.stderr.write(_program_traceback(exc))
        except _BaseException:
            pass
        _flush()
        chan.emit("fail", -1, f"{stage}: {_describe(exc)}")
        _os_exit(1)
    _flush()
    if failed:
        chan.emit("fail", -1, "one or more tests failed")
        _os_exit(1)
    chan.emit("done")
    # os._exit: atexit hooks, finalizers and lingering threads get no chance to run after the verdict.
    _os_exit(0)
