"""The one record that flows through every stage: `Sample` and its parts.

Serialised as one JSON object per line. Each field's meaning is its description below (`codesft schema`).
Sub-models forbid unknown keys so a typo in an input file is an error, not silent data loss.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

SCHEMA_VERSION = "1.0"

SourceKind = Literal["eval_question", "code_review", "chat", "commit", "instruct"]
Decision = Literal["accepted", "downgraded", "rejected"]
SplitName = Literal["train", "validation", "test", "holdout"]
# "unscanned" until the redact stage has looked at the record: a record is never `clean` by default, so one
# that skipped redaction (the stage disabled, or made by code that never ran it) cannot pass for scanned.
RedactionStatus = Literal["clean", "redacted", "blocked", "unscanned"]
VerificationStatus = Literal["passed", "failed", "timeout", "memory", "error", "unverified"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ArtifactRef(_Model):
    path: str = Field(description="Path of the input artifact, as given to the reader.")
    content_hash: str = Field(description="sha256 of the artifact's bytes (or of the record's line).")
    kind: str = Field(default="file", description="What the artifact is: file, line, commit, blob.")


class Source(_Model):
    kind: SourceKind = Field(description="Which reader produced the record.")
    run_id: str | None = Field(default=None, description="Id of the curate run that produced the record.")
    stage: str | None = Field(default=None, description="Last stage that touched the record.")
    flow_id: str | None = Field(default=None, description="Id of the flow/pipeline in the upstream system, if any.")
    group_key: str = Field(description="Key that keeps related records in one split (story, repository, problem family).")
    artifact_refs: list[ArtifactRef] = Field(default_factory=list, description="Input artifacts the record came from.")


class ToolCallFunction(_Model):
    name: str
    arguments: str = Field(description="JSON-encoded arguments, as in the OpenAI API.")


class ToolCall(_Model):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    weight: float | None = Field(default=None, description="0 marks a turn as context only (no loss).")


class Code(_Model):
    language: str = Field(default="python", description="Programming language of solution/tests. The sandbox runs python, javascript (node; alias js) and sql (SQLite in memory); a record in another language stays unverified.")
    solution: str | None = Field(default=None, description="The correct (reference or fixed) code; for sql the query (statements whose last one returns the rows).")
    tests: str | None = Field(default=None, description="Test code: plain asserts, or a check(candidate) function (python; javascript with node:assert or node:test). For sql: the JSON of a SqlExpectation, the rows the query must return and whether their order counts.")
    entry_point: str | None = Field(default=None, description="Function under test; the harness calls check(entry_point).")
    prompt: str | None = Field(default=None, description="Code prefix the solution continues (HumanEval style), if any.")
    before: str | None = Field(default=None, description="For repair pairs: the problematic code before the fix.")
    setup: str | None = Field(default=None, description="Code run before the tests (imports, fixtures); for sql the schema (DDL) and seed rows (INSERTs), run as one script on a fresh in-memory database.")


SqlValue = bool | int | float | str | None


class SqlExpectation(_Model):
    """The tests of a sql record, stored as JSON in `Code.tests`: the rows the query must return. Values compare
    as SQLite returns them: integers and floats by value (an integral float equals its integer; floats equal when
    they agree to 9 decimal places), text exactly, null as null."""
    rows: list[list[SqlValue]] = Field(description="Expected result rows, each a list of column values.")
    order: Literal["ordered", "unordered"] = Field(description="ordered: the rows must come in this order (the query orders them); unordered: compared as a multiset (order ignored, duplicates counted).")
    columns: list[str] | None = Field(default=None, description="When given, the result's column names must be these, in this order.")

    def to_tests(self) -> str:
        """The canonical text stored in `Code.tests` (compact, sorted keys: the same expectation, the same bytes)."""
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class CharSpan(_Model):
    start: int = Field(ge=0, description="Start character offset (inclusive).")
    end: int = Field(ge=0, description="End character offset (exclusive).")


class FaultSpans(_Model):
    line: list[CharSpan] = Field(default_factory=list, description="Character spans of changed lines.")
    token: list[CharSpan] = Field(default_factory=list, description="Character spans of edited characters.")


class Fault(_Model):
    incorrect: str = Field(description="The incorrect-but-similar variant of code.solution.")
    generator: str = Field(description="How it was made: mutation, teacher, local.")
    operator: str | None = Field(default=None, description="Mutation operator or teacher/local model id.")
    similarity: float = Field(ge=0.0, le=1.0, description="Similarity of the variant to the correct code.")
    similarity_method: str = Field(default="edit", description="edit (normalised Levenshtein) or embedding:<model>.")
    verified_failing: bool | None = Field(default=None, description="True when the variant failed the tests in the sandbox; None when the sample has no tests.")
    verification: str | None = Field(default=None, description="Sandbox status/reason of the variant run.")
    correct_spans: FaultSpans = Field(default_factory=FaultSpans, description="Error-sensitive spans in the correct code.")
    incorrect_spans: FaultSpans = Field(default_factory=FaultSpans, description="Error-sensitive spans in the incorrect code.")
    candidates_tried: int = Field(default=0, description="Variants generated before picking this one.")


class Metadata(_Model):
    language: str = "python"
    domain: str | None = None
    category: str = Field(default="code_generation", description="code_generation, review_repair, conversation, tool_use, commit, ...")
    difficulty: str | None = None
    tags: list[str] = Field(default_factory=list)


class Verification(_Model):
    status: VerificationStatus = "unverified"
    passed: int = 0
    total: int = 0
    runtime_s: float = 0.0
    reason: str = ""
    before_status: VerificationStatus | None = Field(default=None, description="Repair pairs: the verdict on the problematic code (it should fail).")


class RubricScores(_Model):
    code_quality: int | None = Field(default=None, ge=1, le=5, description="Reviewer's code-quality score, 1-5.")
    teaching_value: int | None = Field(default=None, ge=1, le=5, description="Reviewer's teaching-value score, 1-5.")
    scenario_authenticity: int | None = Field(default=None, ge=1, le=5, description="Is the scenario real? 1-5.")


class Review(_Model):
    """The human review that counts for a record (the latest decision; `codesft review apply`)."""
    decision: Literal["approve", "reject", "edit"] = Field(description="approve, reject, or edit (approved after an edit).")
    reviewer: str
    decided_at: str = Field(description="ISO time the decision was saved (from the review database).")
    reason: str | None = Field(default=None, description="Reject reason (from the fixed list), if any.")
    comment: str | None = None
    rubric: RubricScores | None = None
    edited_fields: list[str] = Field(default_factory=list, description="What an edit changed: messages, solution.")
    decisions: int = Field(default=1, ge=1, description="How many decisions the record got (all reviewers).")
    database_sha256: str = Field(description="Content hash of the review database the decision came from.")


class Quality(_Model):
    decision: Decision = "accepted"
    score: float = Field(default=0.0, description="Total quality score, 0-100.")
    dimensions: dict[str, float] = Field(default_factory=dict, description="Per-dimension scores in [0, 1].")
    veto: bool = False
    iterations: int = Field(default=1, description="How many attempts/iterations produced the answer (from the source).")
    has_code_pair: bool = False
    token_estimate: int = 0
    reasons: list[str] = Field(default_factory=list, description="Why the record was rejected or downgraded.")
    warnings: list[str] = Field(default_factory=list)
    verification: Verification = Field(default_factory=Verification)
    review: Review | None = Field(default=None, description="Human review (codesft review apply); None when nobody reviewed it.")


class Provenance(_Model):
    base_commit: str | None = None
    content_hash: str = Field(description="sha256 of the record's content at read time.")
    source_path: str = Field(description="File or repository the record came from.")
    line: int | None = Field(default=None, description="1-based line number in source_path, where applicable.")
    record_id: str | None = Field(default=None, description="The record's own id in its source (task_id, review id, chat id; the commit sha for git), as given.")
    patch_ref: str | None = None
    license: str | None = None
    lineage: list[str] = Field(default_factory=list, description="Bundle versions / sample ids this record derives from.")
    generated_at: str | None = Field(default=None, description="ISO time from the source; never the wall clock (keeps bundles byte-identical).")


class Split(_Model):
    assignment: SplitName
    seed: int
    strategy: str = "group_hash"
    group_key: str


class Finding(_Model):
    kind: str
    severity: Literal["low", "medium", "high", "critical"]
    field_path: str
    action: Literal["redacted", "blocked"]


class Redaction(_Model):
    status: RedactionStatus = "unscanned"
    applied_rules: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    redacted_fields: list[str] = Field(default_factory=list)


class Dedup(_Model):
    cluster_id: str = Field(description="Id of the duplicate cluster (the sample_id of the record kept for it).")
    kept: bool = Field(description="True for the record kept for the cluster (highest score, then smallest id).")
    method: Literal["exact", "near"] = Field(description="exact: same normalised instruction+code; near: MinHash LSH over code shingles.")
    size: int = Field(default=2, ge=2, description="Number of records in the cluster.")


class SamplingInfo(_Model):
    """What `codesft sample` drew for a record: the model's own answers, their pass rate, and what was kept."""
    pass_rate: float = Field(ge=0.0, le=1.0, description="passed / k over the k self-samples (the re-solve attempt is not counted).")
    k: int = Field(ge=1, description="Answers drawn for the record.")
    passed: int = Field(ge=0, description="How many of the k answers passed the record's tests in the sandbox.")
    model: str = Field(description="Model the answers were drawn from (served name, hub id or path).")
    engine: str = Field(description="Engine that served the model: the backend (transformers, openai, llamacpp) and, where known, its version (e.g. `llamacpp: llama.cpp server version: 1 (0c1e570)`). Answers from another engine are another policy, even for the same weights.")
    temperature: float = Field(description="Sampling temperature.")
    top_p: float = Field(description="Nucleus sampling mass.")
    seed: int = Field(description="Base seed; answer i used seed + i.")
    prompt_template_sha256: str = Field(description="sha256 of what was sent: the record's turns before its answer, and the re-solve template.")
    selection: str = Field(description="Rule that chose the kept answer among the passing ones: shortest, most_frequent or logprob.")
    kept: Literal["self", "resolved", "reference"] = Field(description="self: a passing self-sample; resolved: written with the reference in view; reference: nothing passed.")
    unsolved: bool = Field(description="True when no answer (self-sample or re-solve) passed: the reference answer is kept.")
    resolved: bool = Field(description="True when the kept answer came from the re-solve request (0/k, reference shown).")
    reference_solution: str | None = Field(default=None, description="The record's original code.solution, kept verbatim.")
    reference_answer: str = Field(description="The record's original assistant answer, kept verbatim.")
    failures: dict[str, int] = Field(default_factory=dict, description="Answers that did not pass, by reason (failed, timeout, syntax_error, no_code, empty, request_failed, ...).")


class AugmentationInfo(_Model):
    """How `codesft augment` made a record from another one: the parent, the strategy, the teacher and the checks
    it passed. The record's own `provenance.lineage` ends with the parent bundle version and the parent's id."""
    strategy: Literal["rephrase", "evol", "harder", "easier", "translate"] = Field(description="rephrase: the parent's task in other words (same solution and tests); evol: an Evol-Instruct operation; harder / easier: a new task with a difficulty target; translate: the task, solution and tests in another language.")
    operation: str = Field(description="The prompt variant: the rephrase style, the Evol-Instruct operation (add_constraints, deepen, concretize, increase_reasoning, broaden), harder, easier, or the target language.")
    parent_sample_id: str = Field(description="sample_id of the record this one was made from.")
    parent_bundle: str = Field(description="NAME@VERSION of the bundle the parent was read from.")
    teacher: str = Field(description="Model that wrote the new text (served name, hub id, path or offline:NAME).")
    engine: str = Field(description="Generation backend that served the teacher: transformers, openai or llamacpp.")
    temperature: float = Field(description="Sampling temperature of the teacher's request.")
    top_p: float = Field(description="Nucleus sampling mass of the teacher's request.")
    seed: int = Field(description="Seed of the teacher's request (the base seed + the attempt's index).")
    prompt_template_sha256: str = Field(description="sha256 of the prompt templates used (the strategy's template, the answer format and, for evol / harder / easier, the self-consistency template); the same for every record made with the same templates.")
    difficulty_target: Literal["harder", "easier"] | None = Field(default=None, description="harder / easier: the difficulty the teacher was asked for. The measured difficulty is the student's pass rate, `sampling.pass_rate` and `metadata.difficulty`, once `codesft sample` ran on the new version.")
    parent_difficulty: str | None = Field(default=None, description="The parent's metadata.difficulty when the record was made.")
    parent_pass_rate: float | None = Field(default=None, ge=0.0, le=1.0, description="The parent's sampling.pass_rate when the record was made (None: the parent was never sampled).")
    checks: dict[str, str] = Field(default_factory=dict, description="Sandbox verdicts the record was kept on: own_tests (the new solution under the new tests), original_solution (the parent's solution under the new tests: must fail), second_solution (an independently drawn solution under the new tests: must pass).")


class Sample(_Model):
    sample_id: str = Field(description="Stable id: sha256 of source kind + source location (the file relative to the named input + line, or commit:path for git; never the spelling of the input path) + content.")
    schema_version: str = SCHEMA_VERSION
    source: Source
    messages: list[Message] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = Field(default=None, description="Tool definitions (OpenAI function schema).")
    code: Code | None = None
    fault: Fault | None = None
    metadata: Metadata = Field(default_factory=Metadata)
    quality: Quality = Field(default_factory=Quality)
    provenance: Provenance
    split: Split | None = None
    redaction: Redaction = Field(default_factory=Redaction)
    dedup: Dedup | None = Field(default=None, description="Duplicate cluster the record belongs to, if any.")
    sampling: SamplingInfo | None = Field(default=None, description="Self-sampling data (`codesft sample`): pass rate, k, model, the kept answer's origin and the original reference; absent when the record was never sampled.")
    augmentation: AugmentationInfo | None = Field(default=None, description="How `codesft augment` made this record from its parent (strategy, teacher, prompt-template hash, checks); absent on records that were not made by augmentation.")
    export_compatibility: dict[str, str] = Field(default_factory=dict, description="Per export format: 'ok' or the reason it is not exported.")

    @model_serializer(mode="wrap")
    def _omit_unsampled(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        # `sampling` came after bundles were published: a record that was never sampled serialises without the
        # key, so every existing bundle keeps its bytes (and its sample lines their hashes).
        data = handler(self)
        if self.sampling is None:
            data.pop("sampling", None)
        if self.augmentation is None:  # the same for `augmentation`, added later still
            data.pop("augmentation", None)
        return data

    def to_json(self) -> str:
        """One canonical JSON line (sorted keys, no whitespace variance) so bundles are byte-stable."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> "Sample":
        return cls.model_validate_json(line)

    def user_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "user")

    def assistant_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "assistant")


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def make_sample_id(source_kind: str, source_location: str, content: str) -> str:
    """Same input -> same id. Location is e.g. 'relative/path:line' or 'commit:path'."""
    return content_hash(source_kind, source_location, content)[:24]


def json_schema() -> dict[str, Any]:
    schema = Sample.model_json_schema()
    schema["$id"] = f"https://codesft.dev/schema/sample-{SCHEMA_VERSION}.json"
    return schema
