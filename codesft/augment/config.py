"""`codesft augment` configuration: one typed object, loadable from YAML, every field overridable on the CLI."""

from __future__ import annotations

from typing import Any, Literal

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

Strategy = Literal["rephrase", "evol", "harder", "easier", "translate"]
EvolOperation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "broaden"]
EVOL_OPERATIONS: tuple[str, ...] = ("add_constraints", "deepen", "concretize", "increase_reasoning", "broaden")
# Strategies whose teacher writes a new task: a solution, tests, and the three checks (docs/augment.md).
NEW_TASK = ("evol", "harder", "easier")
OFFLINE_TEACHER = "offline:qwen2.5-coder-1.5b-instruct"


class AugmentConfig(UsesSandbox, CommandConfig):
    strategy: list[Strategy] = Field(default_factory=list, description="Augmentation strategies, run in this order (one or more): rephrase (N paraphrases of the instruction, same solution and tests), evol (Evol-Instruct: new task, solution and tests), harder / easier (evol with a difficulty target), translate (Python -> JavaScript, tests included).")
    teacher: str = Field(default=OFFLINE_TEACHER, description="Model that writes the new text: hub id, local directory, offline:NAME (default: the offline Qwen2.5-Coder-1.5B-Instruct, extra `teacher-model`), or the served model name for --backend openai / llamacpp.")
    backend: GenBackend
    base_url: GenBaseUrl
    api_key_env: GenApiKeyEnv
    n: int = Field(default=2, ge=1, le=32, description="Candidates asked of the teacher per record and strategy (each one request; evol-like candidates cost a second request for the self-consistency check).")
    evol_operations: list[EvolOperation] = Field(default_factory=lambda: list(EVOL_OPERATIONS), description="Evol-Instruct operations evol draws from; candidate i of a record uses operation (hash(record) + i) mod the list's length: add_constraints, deepen, concretize, increase_reasoning, broaden.")
    target_language: Literal["javascript"] = Field(default="javascript", description="Language translate writes (solution and tests).")
    paraphrase_max_similarity: float = Field(default=0.9, gt=0.0, le=1.0, description="rephrase: a paraphrase whose normalised similarity (rapidfuzz ratio / 100) to the original instruction or to a paraphrase kept before it reaches this is dropped as near_duplicate_paraphrase.")
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"], description="Splits whose records are augmented (others are copied unchanged); never test.")
    limit: int | None = Field(default=None, ge=1, description="Augment at most this many records (the first eligible ones in the bundle's order); null: every eligible record.")
    temperature: float = Field(default=0.7, ge=0.0, description="Teacher's sampling temperature (0 = greedy: the n candidates of a record differ only by their prompt variant).")
    top_p: GenTopP
    max_new_tokens: int = Field(default=1024, ge=1, description="Tokens the teacher generates at most per answer (a task, a solution and tests).")
    seed: int = Field(default=0, description="Base seed: candidate i uses seed + i, its self-consistency solution seed + n + i.")
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
    # The sandbox settings every command shares (codesft.sandbox.types.SandboxSettings).
    timeout_s: SandboxTimeout
    memory_mb: SandboxMemory
    workers: SandboxWorkers
    out: str | None = Field(default=None, description="Root directory for the new bundle (default: beside the input bundle).")
    version: str | None = Field(default=None, description="Version of the new bundle (default: <input version>+augment).")
    resume: bool = Field(default=True, description="Reuse the candidates already generated and judged in the work dir when the settings match; --no-resume starts over.")

    @field_validator("strategy", "evol_operations", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        # YAML `strategy: rephrase` reads as one name; the field is a list either way.
        return [v] if isinstance(v, str) else v

    @field_validator("splits")
    @classmethod
    def _no_test_split(cls, v: list[str]) -> list[str]:
        # A paraphrase or variant of a test problem in training data is that problem, leaked.
        if "test" in v:
            raise ValueError("the test split is never augmented (its problems must stay unseen)")
        return v

    @model_validator(mode="after")
    def _inputs(self) -> AugmentConfig:
        if not self.strategy:
            raise ValueError("codesft augment needs --strategy (rephrase, evol, harder, easier, translate)")
        if len(set(self.strategy)) != len(self.strategy):
            raise ValueError("--strategy names a strategy twice")
        if not self.evol_operations:
            raise ValueError("--evol-operations is empty")
        check_backend_inputs(self)
        return self

    @property
    def model(self) -> str:
        """The teacher, under the name the shared backend factory reads (`codesft.evaluate.generation`)."""
        return self.teacher

    def run_settings(self) -> dict[str, Any]:
        """What decides the candidates: a resumed run must agree on all of it."""
        return {k: getattr(self, k) for k in ("teacher", "backend", "strategy", "n", "evol_operations",
                                              "target_language", "temperature", "top_p", "max_new_tokens", "seed",
                                              "dtype", "splits", "limit")}
