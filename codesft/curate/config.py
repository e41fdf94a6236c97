"""The `codesft curate` config: one pydantic model, every field documented.

Precedence: gate preset < YAML file (--config) < CLI options. Gate fields left unset take the
values of the preset named by `gates`; `resolved()` fills them in so the manifest records the
values actually used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codesft.config import CommandConfig
from codesft.sandbox.types import SandboxMemory, SandboxTimeout, SandboxWorkers, UsesSandbox

# `unverified`: what happens to a record nothing executed (no tests, no sandbox for its language, no code,
# verification disabled); `before_passes`: to a repair pair whose problematic code passes the tests too.
GATE_PRESETS: dict[str, dict[str, object]] = {
    "strict": {"min_score": 95.0, "max_iterations": 2, "require_code_pair": True, "max_tokens": 4096,
               "unverified": "reject", "before_passes": "reject"},
    "balanced": {"min_score": 85.0, "max_iterations": 4, "require_code_pair": False, "max_tokens": 8192,
                 "unverified": "downgrade", "before_passes": "downgrade"},
    "experimental": {"min_score": 70.0, "max_iterations": 10, "require_code_pair": False, "max_tokens": 16384,
                     "unverified": "accept", "before_passes": "downgrade"},
}
GatePolicy = Literal["reject", "downgrade", "accept"]
# Every benchmark split `codesft eval` can score on is protected by default, except MBPP's train split, which
# exists to be trained on (so `eval --benchmark mbpp:train` or `mbpp:all` is not leak-free by construction).
BenchmarkSplit = Literal["humaneval", "humaneval+", "mbpp", "mbpp:fewshot", "mbpp:test", "mbpp:validation", "mbpp:train"]
PROTECTED_SPLITS: tuple[str, ...] = ("humaneval", "humaneval+", "mbpp:fewshot", "mbpp:test", "mbpp:validation")
FORMATS = ["openai_chat", "hf_conversational", "hf_tool_calling", "alpaca", "dpo", "parquet"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GitSourceConfig(_Section):
    max_file_chars: int = Field(default=20000, ge=1, description="Skip commits whose file (before or after) is longer than this.")
    min_message_words: int = Field(default=2, ge=1, description="Skip commits whose message has fewer words.")
    require_imperative: bool = Field(default=True, description="Keep only messages that start with an imperative verb (OctoPack).")
    allow_new_files: bool = Field(default=False, description="Keep commits that create the file (empty 'before').")
    license_allowlist: list[str] = Field(default_factory=lambda: ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Unlicense", "CC0-1.0", "MPL-2.0", "0BSD", "Zlib"],
                                         description="SPDX ids of repository licenses to accept; empty accepts any (including unknown).")
    license: str | None = Field(default=None, description="Declare the repository license instead of detecting it from LICENSE/COPYING.")


class SourcesConfig(_Section):
    git: GitSourceConfig = Field(default_factory=GitSourceConfig, description="Options of the git reader.")


class NormalizeConfig(_Section):
    extract_code: bool = Field(default=True, description="Fill code.solution from the answer's fenced code block when the source gave none.")
    detect_language: bool = Field(default=True, description="Set the language from the fence tag or the code when the source did not state it.")
    strip_trailing_whitespace: bool = Field(default=True, description="Strip trailing whitespace per line in messages and code.")


class RedactConfig(_Section):
    enabled: bool = Field(default=True, description="Scan every text field for secrets and personal data.")
    rules: list[str] | None = Field(default=None, description="Rule names to apply (see docs/curate.md); null applies all.")


class VerifyConfig(UsesSandbox, _Section):
    enabled: bool = Field(default=True, description="Run solutions with their tests in the sandbox.")
    # The sandbox settings every command shares (codesft.sandbox.types.SandboxSettings); declared in place
    # because this field order is the bundle manifest's.
    timeout_s: SandboxTimeout
    memory_mb: SandboxMemory
    workers: SandboxWorkers
    batch_size: int = Field(default=64, ge=1, description="Records handed to the sandbox per batch.")


class ScoreConfig(_Section):
    correctness: float = Field(default=0.40, ge=0, description="Weight of correctness (verification).")
    completeness: float = Field(default=0.25, ge=0, description="Weight of completeness (question, answer, code, tests).")
    consistency: float = Field(default=0.20, ge=0, description="Weight of consistency (answer matches code, code parses, roles alternate).")
    safety: float = Field(default=0.15, ge=0, description="Weight of safety (bandit static analysis of the solution).")
    unverified_credit: float = Field(default=0.0, ge=0, le=1, description="Correctness credit for records nothing executed (unverified: no tests, no sandbox for the language). 0: the score shows that correctness is unknown; the gate's `unverified` policy decides what happens to them.")
    bandit_skip: list[str] = Field(default_factory=lambda: ["B101"], description="Bandit test ids to ignore (B101: asserts are normal in solutions with tests).")
    safety_prefilter: bool = Field(default=True, description="Screen each batch's solutions with ruff's security rules (its port of bandit's checks) in one process and run bandit only on those ruff flags; false runs bandit on every solution (~40x slower).")
    veto_high_severity: bool = Field(default=True, description="Veto (hard reject) a solution with a HIGH-severity, HIGH-confidence bandit finding.")


class GateConfig(_Section):
    min_score: float | None = Field(default=None, ge=0, le=100, description="Score floor (hard). Null = from the preset.")
    max_iterations: int | None = Field(default=None, ge=1, description="More iterations than this downgrades (soft). Null = from the preset.")
    require_code_pair: bool | None = Field(default=None, description="Downgrade records without solution+tests or before/after code (soft). Null = from the preset.")
    max_tokens: int | None = Field(default=None, ge=1, description="Reject records longer than this many estimated tokens (hard). Null = from the preset.")
    unverified: GatePolicy | None = Field(default=None, description="Records nothing executed: reject (hard `unverified`), downgrade (soft `unverified`) or accept (a warning). Their score floor is checked on the dimensions that could be measured. Null = from the preset.")
    before_passes: Literal["reject", "downgrade"] | None = Field(default=None, description="Repair pairs whose problematic (`before`) code passes the tests too: reject (hard `before_passes`) or downgrade (soft). Null = from the preset.")


class DedupConfig(_Section):
    enabled: bool = Field(default=True, description="Drop exact and near duplicates, keeping the higher-scoring record.")
    near: bool = Field(default=True, description="Also drop near duplicates (MinHash LSH over the instruction and the normalised code; every band hit is confirmed by the estimated Jaccard).")
    threshold: float = Field(default=0.8, gt=0, le=1, description="Jaccard threshold for near duplicates (estimated from the MinHash signatures).")
    num_perm: int = Field(default=64, ge=16, description="MinHash permutations (the signature kept for the Jaccard check takes num_perm * 4 bytes per record, on disk).")
    shingle_size: int = Field(default=5, ge=1, description="Tokens per shingle.")


class DecontamConfig(_Section):
    enabled: bool = Field(default=True, description="Reject records that overlap the evaluation benchmarks.")
    benchmarks: list[BenchmarkSplit] = Field(default_factory=lambda: list(PROTECTED_SPLITS), description="Benchmark splits protected from training data: humaneval, humaneval+, mbpp:fewshot (task ids 1-10), mbpp:test (11-510; `mbpp` is the same), mbpp:validation (511-600), mbpp:train (601-974, the split meant for training; not protected by default).")
    ngram: int = Field(default=10, ge=3, description="Token n-gram size for overlap.")
    overlap_threshold: float = Field(default=0.5, gt=0, le=1, description="Reject when this share of a benchmark item's n-grams occurs in the record.")
    min_substring_chars: int = Field(default=60, ge=10, description="A benchmark prompt/solution at least this long found verbatim (whitespace-normalised) in the record rejects it.")


class SplitConfig(_Section):
    train: int = Field(default=80, ge=0, le=100, description="Percent of groups in train.")
    validation: int = Field(default=10, ge=0, le=100, description="Percent of groups in validation.")
    test: int = Field(default=10, ge=0, le=100, description="Percent of groups in test.")
    holdout: int = Field(default=0, ge=0, le=100, description="Percent of groups held out (never exported for training).")


class BalanceConfig(_Section):
    enabled: bool = Field(default=True, description="Down-sample over-represented buckets.")
    by: Literal["category", "language", "difficulty"] = Field(default="category", description="Metadata field that defines the buckets.")
    targets: dict[str, float] = Field(default_factory=dict, description="Maximum share (0-1) of the kept records per bucket; buckets not listed are not capped.")


class CurateConfig(CommandConfig):
    inputs: list[str] = Field(default_factory=list, description="Inputs as KIND:PATH (eval_questions, code_reviews, chats, git, instruct).")
    allow_missing: bool = Field(default=False, description="Record an input path that does not exist as one rejection ('input not found') and go on, instead of stopping (exit 2).")
    out: str = Field(default="bundles", description="Directory that holds the bundles.")
    name: str = Field(default="dataset", description="Bundle name: output goes to OUT/NAME/v<version>/.")
    version: str = Field(default="1.0.0", description="Bundle version.")
    parent_version: str | None = Field(default=None, description="Version this bundle derives from (recorded in the manifest).")
    seed: int = Field(default=42, description="Seed for the split and for deterministic down-sampling.")
    gates: Literal["strict", "balanced", "experimental"] = Field(default="balanced", description="Gate preset.")
    workers: int = Field(default=1, ge=1, description="Processes for the per-record stages (local executor).")
    executor: Literal["local", "ray"] = Field(default="local", description="Back-end for the per-record stages; ray needs the `ray` extra.")
    formats: list[str] = Field(default_factory=lambda: list(FORMATS), description=f"Export formats: {', '.join(FORMATS)}.")
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="Reader options.")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig, description="normalize stage.")
    redact: RedactConfig = Field(default_factory=RedactConfig, description="redact stage.")
    verify: VerifyConfig = Field(default_factory=VerifyConfig, description="verify stage.")
    score: ScoreConfig = Field(default_factory=ScoreConfig, description="score stage.")
    gate: GateConfig = Field(default_factory=GateConfig, description="gate stage (overrides the preset).")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="dedup stage.")
    decontam: DecontamConfig = Field(default_factory=DecontamConfig, description="decontaminate stage.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="split stage.")
    balance: BalanceConfig = Field(default_factory=BalanceConfig, description="balance stage.")

    @field_validator("name", "version")
    @classmethod
    def _one_path_component(cls, value: str) -> str:
        # name and version become directories under `out`: a separator or '..' would write outside it.
        from codesft.bundle import path_component_problem

        problem = path_component_problem(value)
        if problem:
            raise ValueError(f"{value!r} {problem}")
        return value

    def resolved(self) -> "CurateConfig":
        """A copy with gate values filled from the preset and checks that span fields."""
        preset = GATE_PRESETS[self.gates]
        gate = {k: (v if v is not None else preset[k]) for k, v in self.gate.model_dump().items()}
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ValueError(f"unknown export format(s): {', '.join(unknown)} (known: {', '.join(FORMATS)})")
        s = self.split
        if s.train + s.validation + s.test + s.holdout != 100:
            raise ValueError("split: train + validation + test + holdout must be 100")
        return self.model_copy(update={"gate": GateConfig(**gate)})

    def pipeline_dict(self) -> dict:
        """What determines the bundle's content (not where it is written): the manifest's config."""
        return self.model_dump(mode="json", exclude={"out", "workers", "executor"})
