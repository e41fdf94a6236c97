"""`codesft eval run` configuration: one typed object, loadable from YAML, every field overridable on the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from codesft.config import CommandConfig
from codesft.evaluate.generation import (
    GenApiKeyEnv,
    GenBackend,
    GenBaseUrl,
    GenConcurrency,
    GenCtxPerSlot,
    GenDevice,
    GenDtype,
    GenLlamaArgs,
    GenLlamaServer,
    GenMaxNewTokens,
    GenMaxRetries,
    GenRequestTimeout,
    GenSharePrompt,
    GenSlots,
    GenThreads,
    GenTopP,
)
from codesft.sandbox.types import SandboxMemory, SandboxTimeout, SandboxWorkers, UsesSandbox

# Codex/human-eval convention for completion mode: stop at the next top-level statement.
COMPLETION_STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "]


class EvalConfig(UsesSandbox, CommandConfig):
    model: str | None = Field(default=None, description="Model: hub id, local directory, .gguf file, offline:qwen2.5-coder-0.5b-instruct, or the served model name for --backend openai.")
    backend: GenBackend
    base_url: GenBaseUrl
    api_key_env: GenApiKeyEnv
    benchmark: str = Field(default="humaneval", description="humaneval, humaneval+, mbpp[:test|validation|train|all], jsonl:PATH, or bundle:PATH (its test split); a trailing [START:STOP] takes a slice of its problems (mbpp:test[:40]).")
    mode: Literal["completion", "instruct"] = Field(default="completion", description="completion: the model continues the prompt; instruct: chat template, code extracted from the answer.")
    n: int = Field(default=1, ge=1, description="Samples per problem.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy; > 0 samples.")
    top_p: GenTopP
    max_new_tokens: GenMaxNewTokens
    stop: list[str] | None = Field(default=None, description="Stop sequences; default: the completion-mode stops (next top-level def/class/if/print/#) in completion mode, none in instruct mode.")
    system_prompt: str | None = Field(default=None, description="System message for instruct mode.")
    limit: int | None = Field(default=None, ge=1, description="Evaluate only the first K problems.")
    seed: int = Field(default=0, description="Base seed: sample i of problem p uses seed + i (sampling and subset draws).")
    batch_size: int = Field(default=8, ge=1, description="Prompts per forward pass (transformers backend).")
    dtype: GenDtype
    device: GenDevice
    concurrency: GenConcurrency
    request_timeout_s: GenRequestTimeout
    max_retries: GenMaxRetries
    llama_server: GenLlamaServer
    slots: GenSlots
    ctx_per_slot: GenCtxPerSlot
    threads: GenThreads
    llama_args: GenLlamaArgs
    share_prompt: GenSharePrompt
    logprobs: bool = Field(default=False, description="Record mean token log-probabilities (n@k ranking): asked of the server (openai backend), computed locally (transformers; always on when n > 1).")
    # The sandbox settings every command shares (codesft.sandbox.types.SandboxSettings).
    timeout_s: SandboxTimeout
    memory_mb: SandboxMemory
    workers: SandboxWorkers
    ks: list[PositiveInt] = Field(default_factory=lambda: [1, 10, 100], description="k values for pass@k (reported where n >= k).")
    n_at_k: list[str] = Field(default_factory=lambda: ["1@10", "5@10", "10@100"], description="n@k pairs as 'n@k' (reported where samples >= k).")
    ranking: Literal["logprob", "public_tests"] = Field(default="public_tests", description="n@k ranking: mean log-probability, or passing the prompt's public examples first (then log-probability).")
    text_metrics: bool = Field(default=True, description="Compute BLEU and CodeBLEU against the reference solutions (secondary metrics).")
    out: str | None = Field(default=None, description="Output directory (results.jsonl, summary.json, report.html).")
    allow_generation_errors: bool = Field(default=False, description="Score a run in which some requests failed (each counted as a failed sample of kind generation_error). By default a failed request (a dead server, a timeout after the retries) stops the run before scoring, exit 1: a rerun retries the failed requests and keeps the rest.")
    resume: bool = Field(default=True, description="Reuse finished generations/executions in --out when its settings match; --no-resume starts over.")

    def stops(self) -> list[str]:
        if self.stop is not None:
            return list(self.stop)
        return list(COMPLETION_STOPS) if self.mode == "completion" else []

    def generation_settings(self) -> dict:
        """What decides the generations: a resumed run must agree on all of it."""
        return {k: getattr(self, k) for k in ("model", "backend", "benchmark", "mode", "n", "temperature", "top_p",
                                              "max_new_tokens", "system_prompt", "seed", "dtype")} | {"stop": self.stops()}
