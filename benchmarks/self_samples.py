"""The experiment, again: fine-tuning on the model's own verified answers (`codesft sample`) against base, on
the same problems, LoRA budget and evaluation as the first run (benchmarks/fgit_vs_sft.py).

Training pool: MBPP task ids 511-974 through `codesft curate` (the first run's recipe), then `codesft sample`
(k = 8, re-solve on) with the base model itself. Conditions (`--conditions`, run over several sittings: every
stage that finished in OUT is reused):

- `sft_self`: SFT on the kept self-samples (every sampled record);
- `fgit_self_bt_sym`, `fgit_self_bt`: FGit on the records with a natural fault (the nearest failing self-sample);
- `dpo_self`: DPO on the natural pairs (kept self-sample vs nearest failing one);
- `sft_self_lr5e-5`: `sft_self` at half the learning rate;
- `sft_refs`: SFT on the references of the same pool (the first run's condition), evaluated with the same engine.

Evaluation: greedy, instruct mode, HumanEval+ and MBPP test (ids 11-510), every program in the sandbox. With
`--engine llamacpp` (default here: the only engine that evaluates 664 problems per model in minutes on 2 CPU
cores) every model, base included, is served by the managed llama-server from a bf16 GGUF of its weights (LoRA
adapters merged), so base and fine-tunes are compared on one engine; `--engine transformers` is the first run's.

    python benchmarks/self_samples.py --out runs/self-samples --conditions sft_self [--limit 40]

Writes OUT/results.md (pass@1, paired comparisons with the failure kinds of the problems lost and won, drift,
sampling and training wall time, commands, manifest hashes; `--notes FILE` appends the analysis and the
evaluation wall times); `--publish` appends it to docs/results.md under its own heading.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fgit_vs_sft", ROOT / "benchmarks" / "fgit_vs_sft.py")
first = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(first)

SELF = {
    "sft_self": {"method": "sft", "pairs_only": False},
    "fgit_self_bt_sym": {"method": "fgit", "weighting": "bt_sym"},
    "fgit_self_bt": {"method": "fgit", "weighting": "bt", "batch_size": 2, "gradient_accumulation_steps": 2},
    "dpo_self": {"method": "dpo", "learning_rate": 5e-5},
    "sft_self_lr5e-5": {"method": "sft", "pairs_only": False, "learning_rate": 5e-5},
}
REFS = {"sft_refs": {"method": "sft", "pairs_only": False}}
BENCHMARKS = ("humaneval+", "mbpp:test")
LABEL = {"humaneval+": "HumanEval+ (base+plus)", "mbpp:test": "MBPP test"}


def run_config(args: argparse.Namespace, out: Path, answers: str, conditions: dict) -> object:
    from codesft.pipeline import RunConfig

    work = out / "inputs"
    work.mkdir(parents=True, exist_ok=True)
    # MBPP test holds a prompt of 3,752 tokens: every slot must hold it and its answer (llama-server refuses a
    # request that does not fit, and the evaluator stops on it rather than score it).
    engine = ({"backend": args.engine, "slots": args.slots, "ctx_per_slot": 8192} if args.engine == "llamacpp"
              else {"batch_size": 8})
    return RunConfig(
        preset="demo", out=str(out), model=args.model,
        curate_config=str(first.curate_yaml(work, first.write_mbpp_train(work))),
        answers=answers,
        faults={"generator": "mutation", "k": 3, "splits": ["train"], "timeout_s": 3.0},
        sample={"k": args.k, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 512, "splits": ["train"],
                "resolve": True, "seed": 0, "limit": args.sample_limit, "rest": "drop", "backend": args.sample_engine, "slots": args.slots, "batch_size": 16},
        conditions=conditions,
        train={**first.TRAIN, "max_steps": args.train_max_steps, "drift_prompts": 32},
        benchmarks=list(args.benchmarks), retention=[],
        eval={"limit": args.limit, "max_new_tokens": 512, "temperature": 0.0, "n": 1, "text_metrics": False,
              "mode": "instruct", "stop": [first.INSTRUCT_STOP], **engine},
    )


def _finished(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / ".stages").glob("*.json"))}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kinds(rows: list[dict], who: str) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[who]] = counts.get(r[who], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "—"


# size: one report, section after section, from the finished stages
def write_results(out: Path, notes: str | None = None) -> Path:
    from codesft.evaluate.compare import compare

    done = _finished(out)
    names = ["base", *[n for n in [*SELF, *REFS] if f"train-{n}" in done]]
    evals = {b: {n: done[f"eval-{b}-{n}"]["result"]["dir"] for n in names if f"eval-{b}-{n}" in done}
             for b in BENCHMARKS}
    rows = []
    for name in names:
        cells = []
        for b in BENCHMARKS:
            d = evals[b].get(name)
            cells.append(first._pct(first._pass1(d, "base+plus") if d and b == "humaneval+" else
                                    (first._pass1(d) if d else None)))
        run = {}
        if name != "base":
            run = json.loads((Path(done[f"train-{name}"]["result"]["dir"]) / "run.json").read_text())
        drift = run.get("drift", {}).get("kl_mean") if isinstance(run.get("drift"), dict) else None
        train_s = done.get(f"train-{name}", {}).get("seconds")
        # Evaluation wall time is left to the notes: a stage resumed over sittings times only its last one.
        rows.append(f"| {name} | {' | '.join(cells)} | {run.get('records', '—')} | {run.get('global_step', '—')} | "
                    f"{f'{drift:.4f}' if drift is not None else '—'} | {f'{train_s / 60:.1f}' if train_s else '—'} |")
    paired = []
    for bench in BENCHMARKS:
        runs = evals[bench]
        for ref in ("base", "sft_refs", "sft_self"):
            others = [n for n in names if n in runs and n != ref and n != "base"
                      and not (ref == "sft_self" and not n.startswith("fgit_self"))]
            if ref not in runs or not others:
                continue
            rep = compare([runs[ref], *[runs[n] for n in others]], out / "compare" / f"{bench.replace(':', '_')}-vs-{ref}")
            for name, c in zip(others, rep["comparisons"]):
                lo, hi = c["ci95"]
                paired.append(f"| {LABEL[bench]} | {name} | {ref} | {100 * c['difference']:+.1f} | "
                              f"[{100 * lo:+.1f}, {100 * hi:+.1f}] | {len(c['won'])} / {len(c['lost'])} | "
                              f"{c['mcnemar']['p_value']:.3g} | {_kinds(c['lost_kinds'], 'candidate')} | "
                              f"{_kinds(c['won_kinds'], 'baseline')} |")
    curate_m = Path(done["curate"]["result"]["bundle"]) / "manifest.json"
    lines = [f"- curated pool: `{Path(done['curate']['result']['bundle']).name}`, manifest sha256 `{_sha(curate_m)}`"]
    if "sample" in done:
        sample_b = Path(done["sample"]["result"]["bundle"])
        sm = json.loads((sample_b / "manifest.json").read_text())["sample"]
        lines.append(f"- self-samples: `{sample_b.name}`, manifest sha256 `{_sha(sample_b / 'manifest.json')}`: "
                     f"{sm['problems']} problems, {sm['samples']} answers ({sm.get('generated_tokens', '?')} tokens), "
                     f"{sm['passed']} passed; re-solved {sm['resolved']}, unsolved {sm['unsolved']}, solved k/k "
                     f"{sm['solved_all']}, natural faults {sm['faults']} (sampling wall time: in the notes, as a "
                     f"stage rebuilt from its saved answers times only that)")
        lines.append(f"- pass-rate histogram (answers passed of k: problems): "
                     f"{', '.join(f'{k}: {v}' for k, v in sm['pass_rate_histogram'].items())}")
    if "faults" in done:
        fb = Path(done["faults"]["result"]["bundle"])
        lines.append(f"- mutation faults (sft_refs): `{fb.name}`, manifest sha256 `{_sha(fb / 'manifest.json')}`")
    any_eval = next((d for b in BENCHMARKS for d in evals[b].values()), None)
    gen = json.loads((Path(any_eval) / "summary.json").read_text()) if any_eval else {}
    commands = (out / "commands.txt").read_text().strip().splitlines() if (out / "commands.txt").is_file() else []
    text = f"""## The experiment, again: training on the model's own verified answers

Produced by `benchmarks/self_samples.py` from the finished stages in its output directory.

- **Model:** Qwen2.5-Coder-0.5B-Instruct (`offline:qwen2.5-coder-0.5b-instruct`, its bf16 weights).
{chr(10).join(lines)}
- **Training:** as the first run (LoRA r16/alpha 32, 1 epoch, lr 1e-4, batch 4, max length 1024; DPO lr 5e-5);
  drift = mean per-token KL(fine-tuned || base) on 32 held-out HumanEval prompts.
- **Evaluation:** greedy, instruct mode, stop at the answer's closing fence, max 512 new tokens; generated on
  {', '.join(f'`{g}`' for g in gen.get('generated_on', [])) or '—'}; model engine `{gen.get('model', {}).get('engine', 'transformers')}`
  {gen.get('model', {}).get('engine_version', '')}.

| condition | HumanEval+ (base+plus) | MBPP test | records | steps | drift (KL) | train (min) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Paired comparisons (same problems; bootstrap 95% CI of the difference, McNemar exact p; the failure kinds the
candidate failed with on the problems it lost, and the reference on those it won):

| benchmark | condition | vs | Δ pass@1 (pts) | 95% CI | won / lost | McNemar p | lost, as | won, the reference had |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(paired)}

Commands (one line per sitting):

{chr(10).join(f"    {c}" for c in commands)}
"""
    if notes:
        text += "\n" + Path(notes).read_text()
    path = out / "results.md"
    path.write_text(text)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/self-samples")
    ap.add_argument("--model", default="offline:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--conditions", nargs="+", default=list(SELF), choices=[*SELF, *REFS])
    ap.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--sample-limit", type=int, default=None,
                    help="sample only the first N problems of the pool and train on those alone (the rest is dropped)")
    ap.add_argument("--engine", choices=["llamacpp", "transformers"], default="llamacpp", help="evaluation engine")
    ap.add_argument("--sample-engine", choices=["llamacpp", "transformers"], default="llamacpp")
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--train-max-steps", type=int, default=-1)
    ap.add_argument("--publish", action="store_true", help="append OUT/results.md to docs/results.md")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--notes", help="a Markdown file appended to results.md (what the numbers say, measured wall times)")
    args = ap.parse_args()
    from codesft.models import device_description, resolve_model_source
    from codesft.pipeline import run_pipeline

    # One set of weights for every engine: the bf16 transformers directory of the model (llama.cpp then
    # serves a bf16 GGUF of it, as of every fine-tune), not the 4-bit GGUF it ships as.
    args.model = str(resolve_model_source(args.model)[0])
    out = Path(args.out).resolve()
    start = time.monotonic()
    if not args.report_only:
        out.mkdir(parents=True, exist_ok=True)
        first.record_sitting(out, "benchmarks/self_samples.py", f"{device_description()}, {os.cpu_count()} CPUs")
        self_conds = {n: SELF[n] for n in args.conditions if n in SELF}
        refs_conds = {n: REFS[n] for n in args.conditions if n in REFS}
        if self_conds or not refs_conds:
            run_pipeline(run_config(args, out, "self", self_conds))
        if refs_conds:
            run_pipeline(run_config(args, out, "references", refs_conds))
    path = write_results(out, args.notes)
    print(f"{path} ({(time.monotonic() - start) / 60:.1f} min)")
    if args.publish:
        with (ROOT / "docs" / "results.md").open("a") as f:
            f.write("\n" + path.read_text())


if __name__ == "__main__":
    main()
