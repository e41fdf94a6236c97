"""`codesft faults` configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from codesft.config import CommandConfig
from codesft.sandbox.types import SandboxMemory, SandboxTimeout, SandboxWorkers, UsesSandbox


class FaultsConfig(UsesSandbox, CommandConfig):
    generator: Literal["mutation", "teacher", "local"] = Field(default="mutation", description="How variants are made.")
    k: int = Field(default=3, ge=1, le=64, description="Variants generated per sample (the most similar failing one is kept).")
    seed: int = Field(default=0, description="Seed for mutation choice and sampling.")
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"],
                              description="Splits whose samples get faults (others are copied unchanged).")
    teacher_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.")
    teacher_model: str | None = Field(default=None, description="Model name for the teacher endpoint.")
    teacher_api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key (if any).")
    temperature: float = Field(default=0.8, ge=0.0, description="Sampling temperature for teacher/local generators.")
    max_new_tokens: int = Field(default=1024, ge=16, description="Generation budget per variant.")
    request_timeout_s: float = Field(default=120.0, gt=0, description="Teacher HTTP timeout per request.")
    concurrency: int = Field(default=8, ge=1, description="Parallel teacher requests.")
    model: str | None = Field(default=None, description="Local model (path, hub id, offline:...) for generator=local.")
    embedder: str | None = Field(default=None, description="sentence-transformers model directory for cosine similarity; edit similarity otherwise.")
    verify: bool = Field(default=True, description="Run variants against the sample's tests in the sandbox; keep only failing ones.")
    # The sandbox settings every command shares (codesft.sandbox.types.SandboxSettings): same defaults as verify.
    timeout_s: SandboxTimeout
    memory_mb: SandboxMemory
    workers: SandboxWorkers
    batch_size: int = Field(default=64, ge=1, description="Samples per generation + verification batch.")
    out: str | None = Field(default=None, description="Root directory for the new bundle (default: beside the input bundle).")
    version: str | None = Field(default=None, description="Version of the new bundle (default: <input version>+faults).")

    @model_validator(mode="after")
    def _generator_inputs(self) -> "FaultsConfig":
        if self.generator == "teacher" and not (self.teacher_url and self.teacher_model):
            raise ValueError("generator 'teacher' needs --teacher-url and --teacher-model")
        if self.generator == "local" and not self.model:
            raise ValueError("generator 'local' needs --model PATH")
        return self
