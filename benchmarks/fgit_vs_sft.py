"""The FGit experiment: base vs SFT vs FGit variants vs DPO on the same data and budget.

Training data: MBPP train + validation (task ids 511-974) through `codesft curate`, with mutation
variants from `codesft faults`. Evaluation: HumanEval / HumanEval+ (one generation per problem,
scored on the base tests and on base+plus, as evalplus does) and the MBPP test split (11-510), greedy,
in instruct mode (the chat template the models were trained with). Every stage is the same code `codesft run` uses (codesft.pipeline), so the run is resumable: run it
again with the same --out to continue, or with a subset of --conditions to spread it over sittings.

    python benchmarks/fgit_vs_sft.py --out runs/fgit-vs-sft [--limit 40] [--conditions sft fgit_bt_sym] [--benchmarks humaneval+]

Writes OUT/results.md from every stage finished in OUT so far, whichever sitting ran it (and copies it to
docs/results.md with --publish); --report-only rewrites it without running anything.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

import yaml

from codesft import __version__
from codesft.models import device_description
from codesft.pipeline import RunConfig, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
MBPP = ROOT / "codesft" / "data" / "benchmarks" / "mbpp.jsonl.gz"

CONDITIONS = {
    "sft": {"method": "sft"},
    # bt differentiates through the incorrect twin too, so both sides' 150k-vocab logits keep their graph: at
    # batch 4 x 1024 tokens a step needs more than 24 GB on CPU (OOM-killed twice). Two micro-batches of 2
    # keep the same effective batch and number of optimizer steps.
    "fgit_bt": {"method": "fgit", "weighting": "bt", "batch_size": 2, "gradient_accumulation_steps": 2},
    "fgit_bt_sym": {"method": "fgit", "weighting": "bt_sym"},
    "fgit_fixed2": {"method": "fgit", "weighting": "fixed", "fixed_weight": 2.0},
    "fgit_line": {"method": "fgit", "weighting": "bt_sym", "mask": "line"},
    "fgit_token": {"method": "fgit", "weighting": "bt_sym", "mask": "token"},
    "dpo": {"method": "dpo", "learning_rate": 5e-5},
}
# Paper: 1 epoch, lr 5e-6 (full fine-tuning), max length 1024, alpha 2. With LoRA on CPU we use a
# LoRA-appropriate lr of 1e-4; everything else as in the paper.
INSTRUCT_STOP = "\n```\n"
TRAIN = {"epochs": 1, "learning_rate": 1e-4, "max_length": 1024, "alpha": 2.0, "batch_size": 4,
         "pairs_only": True, "tensorboard": False, "lora": {"enabled": True, "r": 16, "alpha": 32}}


def write_mbpp_train(work: Path) -> Path:
    path = work / "mbpp_511_974.jsonl"
    with gzip.open(MBPP, "rt") as src, path.open("w") as dst:
        for line in src:
            if 511 <= json.loads(line)["task_id"] <= 974:
                dst.write(line)
    return path


def curate_yaml(work: Path, mbpp: Path) -> Path:
    base = yaml.safe_load((ROOT / "examples" / "curate.yaml").read_text())
    base.update(inputs=[f"eval_questions:{mbpp}"], name="mbpp-train", version="1.0.0")
    base["balance"] = {"enabled": False}
    # The pool is MBPP's train and validation splits: protecting mbpp:validation (the example config does, for
    # teams that evaluate on it) would reject the pool's own validation problems as contaminated.
    base["decontam"]["benchmarks"] = [b for b in base["decontam"]["benchmarks"] if b != "mbpp:validation"]
    # MBPP ids 511-974 are the train+validation pool: put every record in train.
    base["split"] = {"train": 100, "validation": 0, "test": 0, "holdout": 0}
    path = work / "curate_mbpp.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


BENCHMARKS = ("humaneval+", "mbpp:test")
# Environment that changes how a sitting ran (allocator, threads), recorded with its command.
ENV_RECORDED = ("LD_PRELOAD", "MALLOC_CONF", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
PAIRED_LABEL = {"humaneval+": "HumanEval+ (base+plus tests)", "mbpp:test": "MBPP test"}
MODEL_NOTES = {"offline:qwen2.5-coder-0.5b-instruct": " (Qwen2.5-Coder-0.5B-Instruct from the `demo-model` extra, bf16)"}


def record_sitting(out: Path, script: str, where: str) -> None:
    """Append this sitting's command line to OUT/commands.txt, with the environment that changes how it ran."""
    env = [f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k in ENV_RECORDED]
    with (out / "commands.txt").open("a") as f:
        f.write(" ".join([*env, f"python {script}", shlex.join(sys.argv[1:])]) + f"  # on {where}\n")


def _pass1(run_dir: str, suite: str | None = None) -> float | None:
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    table = summary["metrics"]["by_suite"].get(suite) if suite else summary["metrics"]["pass@k"]
    return table["pass@1"]["value"] if table else None


def _eval_seconds(run_dir: str) -> float:
    """Generation summed over every sitting (each sample records its share of its batch's time) plus the sandbox
    execution of the sitting that finished the run; a stage's own timer would only see its last sitting."""
    from codesft.evaluate.results import read_jsonl

    gens = read_jsonl(Path(run_dir) / "generations.jsonl")
    timing = json.loads((Path(run_dir) / "summary.json").read_text()).get("timing", {})
    # Without generations.jsonl (lost after the summary was written) the summary's own sum is what is left.
    gen = sum(g.get("time_s", 0.0) for g in gens) if gens else timing.get("generation_s", 0.0)
    return gen + timing.get("execution_wall_s", 0.0)


def _environment(train_dirs: list[str], eval_dirs: list[str]) -> str:
    """Where the stages ran, from what they recorded: the devices (train run.json `device`, eval summary
    `generated_on`; runs made before those fields existed say "device not recorded"), the torch build and the
    host that ran the programs."""
    train_runs = [json.loads((Path(d) / "run.json").read_text()) for d in train_dirs]
    summaries = [json.loads((Path(d) / "summary.json").read_text()) for d in eval_dirs]

    def distinct(values: list, missing: str = "not recorded") -> str:
        seen = list(dict.fromkeys(v for v in values if v))
        return ", ".join(f"`{v}`" for v in seen) if seen else missing

    trained = distinct([r.get("device") for r in train_runs], "device not recorded")
    generated = distinct([dev for s in summaries for dev in s.get("generated_on", [])], "device not recorded")
    torch = distinct([r.get("versions", {}).get("torch") for r in train_runs])
    platforms = distinct([s.get("platform") for s in summaries])
    return f"training: {trained}, torch {torch}; generation: {generated}; sandbox host: {platforms}"


def _finished(out: Path) -> dict[str, dict]:
    """Every stage a sitting finished in OUT (its result and seconds), whatever --conditions that sitting had."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / ".stages").glob("*.json"))}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def write_results(out: Path, cfg: RunConfig, notes: str | None = None, publish: str | None = None) -> Path:
    """OUT/results.md from every finished stage in OUT: conditions run in separate sittings are reported together,
    and those not run yet are listed as such. `notes`: a Markdown file appended as is (the analysis)."""
    from codesft.evaluate.compare import compare

    done = _finished(out)
    names = ["base", *[n for n in CONDITIONS if f"train-{n}" in done]]
    evals = {b: {n: done[f"eval-{b}-{n}"]["result"]["dir"] for n in names if f"eval-{b}-{n}" in done}
             for b in BENCHMARKS}
    rows = []
    for name in names:
        he, mb = evals["humaneval+"].get(name), evals["mbpp:test"].get(name)
        train_s = done.get(f"train-{name}", {}).get("seconds", 0.0)
        eval_s = sum(_eval_seconds(evals[b][name]) for b in BENCHMARKS if name in evals[b])
        steps, loss = "—", "—"
        if name != "base":
            run = json.loads((Path(done[f"train-{name}"]["result"]["dir"]) / "run.json").read_text())
            steps, loss = run["global_step"], f"{run['metrics'].get('train_loss', float('nan')):.3f}"
        rows.append(f"| {name} | {_pct(_pass1(he, 'base') if he else None)} | "
                    f"{_pct(_pass1(he, 'base+plus') if he else None)} | {_pct(_pass1(mb) if mb else None)} | "
                    f"{steps} | {loss} | {f'{train_s / 60:.1f}' if name != 'base' else '—'} | "
                    f"{f'{eval_s / 60:.1f}' if eval_s else '—'} |")
    paired = []
    for bench in BENCHMARKS:
        runs = evals[bench]
        for ref in ("base", "sft"):
            others = [n for n in names if n in runs and n not in (ref, "base")]
            if ref not in runs or not others:
                continue
            report = compare([runs[ref], *[runs[n] for n in others]],
                             out / "compare" / f"{bench.replace(':', '_')}-vs-{ref}")
            for name, entry in zip(others, report["comparisons"]):
                lo, hi = entry["ci95"]
                paired.append(f"| {PAIRED_LABEL[bench]} | {name} | {ref} | {100 * entry['difference']:+.1f} | "
                              f"[{100 * lo:+.1f}, {100 * hi:+.1f}] | {len(entry['won'])} / {len(entry['lost'])} | "
                              f"{entry['mcnemar']['p_value']:.3g} |")
    missing = [n for n in CONDITIONS if n not in names]
    pending = [f"{n} on {', '.join(b for b in BENCHMARKS if n not in evals[b])}" for n in names
               if any(n not in evals[b] for b in BENCHMARKS)]
    fault_bundle = Path(done["faults"]["result"]["bundle"])
    manifest_path = fault_bundle / "manifest.json"
    counts_m = json.loads(manifest_path.read_text()).get("counts", {})
    curate_manifest = Path(done["curate"]["result"]["bundle"]) / "manifest.json"
    commands = (out / "commands.txt").read_text().strip().splitlines() if (out / "commands.txt").is_file() else []
    # What the finished evaluations recorded, not this invocation's flags (--report-only may be run with others).
    first = next((d for b in BENCHMARKS for d in evals[b].values()), None)
    if first is None:
        raise SystemExit(f"no finished evaluation in {out} yet")
    ev = json.loads((Path(first) / "summary.json").read_text())["generation"]
    counts = {b: json.loads((Path(evals[b]["base"]) / "summary.json").read_text())["benchmark"]
              for b in BENCHMARKS if "base" in evals[b]}
    scope = "; ".join(f"{b}: {c['problems_evaluated']} of {c['problems_total']} problems" for b, c in counts.items())
    text = f"""# FGit vs SFT: measured results

Produced by `benchmarks/fgit_vs_sft.py` from the finished stages in its output directory; codesft {__version__}.

- **Model:** `{cfg.model}`{MODEL_NOTES.get(cfg.model, '')}.
- **Training data:** MBPP task ids 511-974 through `codesft curate` (bundle `{Path(done['curate']['result']['bundle']).name}`,
  manifest sha256 `{hashlib.sha256(curate_manifest.read_bytes()).hexdigest()}`), then `codesft faults --generator mutation`
  (bundle `{fault_bundle.parent.name}/{fault_bundle.name}`, manifest sha256 `{hashlib.sha256(manifest_path.read_bytes()).hexdigest()}`,
  {counts_m.get('accepted', '?')} records, {counts_m.get('with_fault', '?')} of them with a verified failing variant).
- **Training:** LoRA r=16 (alpha 32) on all linear layers, 1 epoch, lr 1e-4 (DPO 5e-5), batch 4 (FGit `bt`: two
  accumulated micro-batches of 2, as its step at batch 4 does not fit in 24 GB of CPU memory), max length 1024,
  FGit alpha = 2; every condition trains on the same records (those with a verified failing variant).
  Differs from the paper: LoRA instead of full fine-tuning (hence lr 1e-4 instead of 5e-6), a 0.5B model,
  mutation variants instead of a teacher LLM.
- **Where it ran:** {_environment([done[f"train-{n}"]["result"]["dir"] for n in names if n != "base"],
                                  [d for b in BENCHMARKS for d in evals[b].values()])}.
- **Evaluation:** greedy, {ev.get('mode')} mode{' (the chat template the models were trained with)' if ev.get('mode') == 'instruct' else ''}, max_new_tokens
  {ev.get('max_new_tokens')}, stop {json.dumps(ev.get('stop'))}. HumanEval+ (one generation per problem, scored on
  the base tests and on base+plus, as evalplus does) and the MBPP test split (ids 11-510); {scope}.
  Every program ran in the codesft sandbox.
- **Not run yet:** {', '.join(missing) if missing else 'none'}.
  Evaluations not finished: {'; '.join(pending) if pending else 'none'}.
  {'Finish with `python benchmarks/fgit_vs_sft.py --out ' + str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out) + (f' --publish {publish}' if publish else '') + '` (every condition; finished stages are reused, an interrupted evaluation resumes from the generations it wrote).' if missing or pending else ''}

## pass@1 (%)

| condition | HumanEval (base tests) | HumanEval+ (base+plus) | MBPP test | train steps | train loss | train (min) | eval (min) |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

train (min): wall time of the training stage. eval (min): both benchmarks, generation summed over the sittings
it took plus the sandbox execution of the sitting that finished it. Train loss of FGit is its up-weighted loss and of
DPO its preference loss, so neither compares with SFT's.

## Paired comparisons (same problems; bootstrap 95% CI of the difference, McNemar exact p)

| benchmark | condition | vs | Δ pass@1 (pts) | 95% CI | won / lost | McNemar p |
|---|---|---|---|---|---|---|
{chr(10).join(paired)}

## Commands (one line per sitting, in order; interrupted sittings included, their finished stages reused by the next)

{chr(10).join(f"    {c}" for c in commands)}
"""
    if notes:
        text += "\n" + Path(notes).read_text()
    path = out / "results.md"
    path.write_text(text)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/fgit-vs-sft")
    ap.add_argument("--model", default="offline:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS),
                    help="evaluate on these only in this sitting (the report still covers every finished one)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate only the first K problems of each benchmark")
    ap.add_argument("--mode", choices=["instruct", "completion"], default="instruct",
                    help="instruct (default): the chat template the models were trained with; completion: raw prompt")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--train-max-steps", type=int, default=-1, help="cap optimizer steps per condition (-1: one epoch)")
    ap.add_argument("--publish", nargs="?", const="docs/results.md", default=None, metavar="PATH",
                    help="copy results.md to PATH (default docs/results.md), relative to the project root")
    ap.add_argument("--notes", default=None, help="Markdown file appended to results.md (what the numbers say)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite results.md from the finished stages")
    args = ap.parse_args()

    out = Path(args.out).resolve()
    work = out / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(
        preset="demo", out=str(out), model=args.model,
        curate_config=str(curate_yaml(work, write_mbpp_train(work))),
        faults={"generator": "mutation", "k": 3, "splits": ["train"], "timeout_s": 3.0},
        conditions={name: CONDITIONS[name] for name in args.conditions},
        train={**TRAIN, "max_steps": args.train_max_steps},
        benchmarks=args.benchmarks,
        eval={"limit": args.limit, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
              "temperature": 0.0, "n": 1, "text_metrics": False, "mode": args.mode,
              # Instruct answers are one code block; text after its closing fence is never run.
              **({"stop": [INSTRUCT_STOP]} if args.mode == "instruct" else {})},
    )
    start = time.monotonic()
    if not args.report_only:
        record_sitting(out, "benchmarks/fgit_vs_sft.py", device_description())
        run_pipeline(cfg)
    path = write_results(out, cfg, args.notes, args.publish)
    print(f"{path} ({(time.monotonic() - start) / 60:.1f} min)")
    if args.publish:
        (ROOT / args.publish).write_text(path.read_text())


if __name__ == "__main__":
    main()
