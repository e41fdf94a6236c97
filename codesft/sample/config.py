"""`codesft sample` configuration: one typed object, loadable from YAML, every field overridable on the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

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
    check_backend_inputs,
)
from codesft.sandbox.types import (
    SandboxMemory,
    SandboxTimeout,
    SandboxWorkers,
    UsesSandbox,
)

Selection = Literal["shortest", "most_frequent", "logprob"]


class SampleConfig(UsesSandbox, CommandConfig):
    model: str | None = Field(default=None, description="Model to sample from: the student itself (self-distillation) or a stronger teacher; hub id, local directory, offline:..., or the served model name for --backend openai.")
    backend: GenBackend
    base_url: GenBaseUrl
    api_key_env: GenApiKeyEnv
    k: int = Field(default=8, ge=1, le=256, description="Answers drawn per record.")
    temperature: float = Field(default=0.8, ge=0.0, description="Sampling temperature (0 = greedy: k identical answers from a deterministic backend).")
    top_p: GenTopP
    max_new_tokens: GenMaxNewTokens
    stop: list[str] = Field(default_factory=lambda: ["\n```\n"], description="Stop sequences: by default the end of the answer's first code block, so no tokens are spent on explanations that are never used (the code is taken from that block).")
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"], description="Splits whose records are sampled (others are copied unchanged); never test.")
    limit: int | None = Field(default=None, ge=1, description="Sample only the first N eligible records of the chosen splits, in bundle order; the others are copied unchanged (a quick look at a model's pass rates, or a benchmark slice), or dropped with --rest drop.")
    rest: Literal["copy", "drop"] = Field(default="copy", description="Records of the sampled splits that are not sampled (beyond --limit, without Python tests to check an answer, or not a plain chat): copy them unchanged (their references), or drop them to rejected.jsonl with reason `not_sampled`, so what trains on the new version is the model's own answers (and the reference of a problem it could not solve).")
    selection: Selection = Field(default="shortest", description="Which passing answer is kept: shortest code, most_frequent code after normalisation (ties: shortest), or highest mean log-probability (logprob; ties and missing log-probabilities: shortest).")
    keep: int = Field(default=1, ge=1, le=64, description="Distinct passing self-samples kept per record; beyond the first, each becomes a record of its own in the same group and split.")
    resolve: bool = Field(default=True, description="For a record no answer solved (0/k): show the model the reference and ask for its own solution; kept only if it passes.")
    solved: Literal["keep", "drop"] = Field(default="keep", description="Records every answer solved (k/k): keep them (with a passing self-sample), or drop them to rejected.jsonl with reason `solved_by_model` (nothing left to learn). A lower loss weight is not offered: the trainer reads a turn's weight as on/off.")
    seed: int = Field(default=0, description="Base seed: answer i of a record uses seed + i.")
    batch_size: int = Field(default=8, ge=1, description="Records per generation + execution batch (progress is saved after each); also the transformers backend's prompts per forward pass.")
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
    logprobs: bool = Field(default=False, description="Ask for token log-probabilities (needed by --selection logprob with the openai backend).")
    # The sandbox settings every command shares (codesft.sandbox.types.SandboxSettings).
    timeout_s: SandboxTimeout
    memory_mb: SandboxMemory
    workers: SandboxWorkers
    out: str | None = Field(default=None, description="Root directory for the new bundle (default: beside the input bundle).")
    version: str | None = Field(default=None, description="Version of the new bundle (default: <input version>+sample).")
    resume: bool = Field(default=True, description="Reuse the answers already generated and executed in the work dir when the settings match; --no-resume starts over.")

    @field_validator("splits")
    @classmethod
    def _no_test_split(cls, v: list[str]) -> list[str]:
        # Training answers drawn for test-split problems would leak the benchmark into training.
        if "test" in v:
            raise ValueError("the test split is never sampled (its problems must stay unseen)")
        return v

    @model_validator(mode="after")
    def _backend_inputs(self) -> SampleConfig:
        check_backend_inputs(self)
        return self

    def generation_settings(self) -> dict:
        """What decides the answers: a resumed run must agree on all of it."""
        return {k: getattr(self, k) for k in ("model", "backend", "k", "temperature", "top_p", "max_new_tokens",
                                              "stop", "seed", "dtype", "resolve", "splits")}
