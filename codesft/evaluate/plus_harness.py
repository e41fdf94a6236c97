"""Differential tests for HumanEval+ (EvalPlus): the candidate's output on each input is compared with the
canonical solution's output, inside the sandboxed program.

Why the canonical solution runs inside the candidate's program rather than once in the parent (as evalplus
does with `trusted_exec`): some expected outputs are huge (HumanEval/15 returns ~150 MB of strings over its
plus inputs), far too big to embed in a program or pass through a pipe. Running it in the same sandboxed
process also measures its time on the same machine and under the same load as the candidate, which is what
the per-input time limit (max(1 s, 4 x canonical time), evalplus's defaults) is meant to capture.

The comparison below follows evalplus 0.3.1 `evalplus/eval/__init__.py::unsafe_execute` line by line
(Apache-2.0): exact equality first; otherwise, when a tolerance is in force, same type, same length and
`np.allclose(out, exp, rtol=1e-07, atol=atol)`; a float-valued expected output switches an atol of 0 to 1e-6
for the rest of the inputs (evalplus mutates its local `atol`, so later inputs see it too). Special oracles
(`poly_root` for HumanEval/32) are named by the loader, not detected here.
"""

from __future__ import annotations

from typing import Any

from codesft.evaluate.problems_types import Suite

# evalplus.config
MIN_TIME_LIMIT_S = 1.0
GT_TIME_LIMIT_FACTOR = 4.0
TASK_TIME_CAP_S = 60.0

_HARNESS = r'''
import copy as _cs_copy, math as _cs_math, signal as _cs_signal, time as _cs_time
import numpy as _cs_np

class _CsTimeout(Exception):
    pass

def _cs_alarm(signum, frame):
    raise _CsTimeout("time limit of this input exceeded")

_cs_signal.signal(_cs_signal.SIGALRM, _cs_alarm)

_cs_inputs = __INPUTS__
_cs_ref_ns = {}
exec(__REF__, _cs_ref_ns)
_cs_ref = _cs_ref_ns[__ENTRY__]
_cs_expected, _cs_limits = [], []
for _cs_inp in _cs_inputs:
    _cs_t0 = _cs_time.time()
    _cs_expected.append(_cs_ref(*_cs_copy.deepcopy(_cs_inp)))
    _cs_limits.append(max(__MIN_LIMIT__, __FACTOR__ * (_cs_time.time() - _cs_t0)))
_cs_budget = min(__CAP__, sum(_cs_limits)) + 2.0
_cs_state = {"atol": __ATOL__, "spent": 0.0, "fn": globals().get(__ENTRY__)}

def _cs_poly(xs, x):
    return sum([coeff * _cs_math.pow(x, i) for i, coeff in enumerate(xs)])

def _cs_is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    if isinstance(x, _cs_np.ndarray):
        return x.dtype == _cs_np.float64 or x.dtype == _cs_np.float32
    return False

def _cs_case(i):
    fn = _cs_state["fn"]
    if fn is None:
        raise NameError("entry point " + __ENTRY__ + " is not defined by the program")
    if _cs_state["spent"] > _cs_budget:
        raise _CsTimeout("time budget of the suite exhausted")
    inp = _cs_inputs[i]
    t0 = _cs_time.time()
    _cs_signal.setitimer(_cs_signal.ITIMER_REAL, _cs_limits[i])
    try:
        out = fn(*inp)
    finally:
        _cs_signal.setitimer(_cs_signal.ITIMER_REAL, 0)
        _cs_state["spent"] += _cs_time.time() - t0
    exp = _cs_expected[i]
    if __ORACLE__ == "poly_root":
        assert abs(_cs_poly(*inp, out)) <= _cs_state["atol"], "not a root within atol"
        return
    exact_match = out == exp
    if _cs_state["atol"] == 0 and _cs_is_floats(exp):
        _cs_state["atol"] = 1e-6
    atol = _cs_state["atol"]
    if not exact_match and atol != 0:
        assert type(out) == type(exp), "type differs from the canonical output"
        if isinstance(exp, (list, tuple)):
            assert len(out) == len(exp), "length differs from the canonical output"
        assert _cs_np.allclose(out, exp, rtol=1e-07, atol=atol), "not close to the canonical output"
    else:
        assert exact_match, "output differs from the canonical output"
'''


def harness_code(reference: str, entry_point: str, inputs: list[Any], atol: float, oracle: str) -> str:
    # repr() of JSON-decoded values is a valid Python literal (no inf/nan in the dataset's inputs), so the
    # inputs are parsed by the compiler rather than by a module the candidate could have patched.
    return (_HARNESS.replace("__INPUTS__", repr(inputs)).replace("__REF__", repr(reference))
            .replace("__ENTRY__", repr(entry_point)).replace("__ATOL__", repr(float(atol)))
            .replace("__ORACLE__", repr(oracle)).replace("__MIN_LIMIT__", repr(MIN_TIME_LIMIT_S))
            .replace("__FACTOR__", repr(GT_TIME_LIMIT_FACTOR)).replace("__CAP__", repr(TASK_TIME_CAP_S)))


def plus_suite(name: str, reference: str, entry_point: str, inputs: list[Any], atol: float, oracle: str) -> Suite:
    return Suite(name=name, test=harness_code(reference, entry_point, inputs, atol, oracle),
                 tests=[f"_cs_case({i})" for i in range(len(inputs))],
                 # canonical run + candidate budget (<= 62 s) + margin; 4 GB as evalplus allows.
                 timeout_s=150.0, memory_mb=4096)
