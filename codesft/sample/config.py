"""`codesft sample` configuration: one typed object, loadable from YAML, every field overridable on the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from codesft.config import CommandConfig
from codesft.sandbox.types import (
    SandboxMemory,
    SandboxTimeout,
    SandboxWorkers,
    UsesSandbox,
)

Selection = Literal["shortest", "most_frequent", "logprob"]


class SampleConfig(UsesSandbox, CommandConfig):
    model: str | None = Field(default=None, description="Model to sample from: the student itself (self-distillation) or a stronger teacher; hub id, local directory, offline:..., or the served model name for --backend openai.")
    backend: Literal["transformers", "openai"] = Field(default="transformers", description="Generation backend: local transformers, or an OpenAI-compatible server at --base-url (vLLM, llama.cpp, SGLang).")
    base_url: str | None = Field(default=None, description="OpenAI-compatible server root, e.g. http://127.0.0.1:8000/v1 (backend openai).")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key (backend openai); never stored.")
    k: int = Field(default=8, ge=1, le=256, description="Answers drawn per record.")
    temperature: float = Field(default=0.8, ge=0.0, description="Sampling temperature (0 = greedy: k identical answers from a deterministic backend).")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling mass (when temperature > 0).")
    max_new_tokens: int = Field(default=512, ge=1, description="Tokens generated at most per answer.")
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"], description="Splits whose records are sampled (others are copied unchanged); never test.")
    selection: Selection = Field(default="shortest", description="Which passing answer is kept: shortest code, most_frequent code after normalisation (ties: shortest), or highest mean log-probability (logprob; ties and missing log-probabilities: shortest).")
    keep: int = Field(default=1, ge=1, le=64, description="Distinct passing self-samples kept per record; beyond the first, each becomes a record of its own in the same group and split.")
    resolve: bool = Field(default=True, description="For a record no answer solved (0/k): show the model the reference and ask for its own solution; kept only if it passes.")
    solved: Literal["keep", "drop"] = Field(default="keep", description="Records every answer solved (k/k): keep them (with a passing self-sample), or drop them to rejected.jsonl with reason `solved_by_model` (nothing left to learn). A lower loss weight is not offered: the trainer reads a turn's weight as on/off.")
    seed: int = Field(default=0, description="Base seed: answer i of a record uses seed + i.")
    batch_size: int = Field(default=8, ge=1, description="Records per generation + execution batch (progress is saved after each); also the transformers backend's prompts per forward pass.")
    dtype: str = Field(default="auto", description="auto, fp32, bf16 or fp16 (transformers backend).")
    device: str | None = Field(default=None, description="torch device (transformers backend); default cuda when available, else cpu.")
    concurrency: int = Field(default=4, ge=1, description="Requests in flight (openai backend).")
    request_timeout_s: float = Field(default=120.0, gt=0, description="Timeout per HTTP request (openai backend).")
    max_retries: int = Field(default=3, ge=0, description="Retries on connection errors, timeouts, 429 and 5xx (openai backend).")
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
        if not self.model:
            raise ValueError("codesft sample needs --model")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        return self

    def generation_settings(self) -> dict:
        """What decides the answers: a resumed run must agree on all of it."""
        return {k: getattr(self, k) for k in ("model", "backend", "k", "temperature", "top_p", "max_new_tokens",
                                              "seed", "dtype", "resolve", "splits")}
