"""Training data: chat-template rendering, assistant-only labels, FGit span->token masks, preflight.

Everything is computed on the FULL chat-templated text: the template is rendered to a string,
the string is tokenized once with character offsets, and a token is a label (or in an FGit
segment) when its characters overlap the assistant turn (or a marked span). Tokenizing the code
alone would give different tokens at its boundaries than the model sees in training.

Assistant turns are found from the template's `{% generation %}` markers when it has them (the
Hugging Face convention); otherwise each assistant message's content is located in the rendered
text, in order, and the end-of-turn token right after it is included so the model learns to stop.
"""
# size: rendering, labels, masks and the preflight share the tokenized text and its offsets

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from codesft.pairs import swap_solution
from codesft.schema import CharSpan, Sample
from codesft.train.losses import IGNORE

Span = tuple[int, int]


class DataError(ValueError):
    """The training data cannot be used; the message names the file/record and the problem."""


# ---------------------------------------------------------------- reading

def load_samples(data: str | Path, split: str = "train") -> tuple[list[Sample], str]:
    """Samples of one split and the data manifest hash (of the bundle manifest, or of the .jsonl file).
    Data that is not a bundle / not Sample records raises DataError naming the file and line."""
    path = Path(data)
    if path.is_file() and path.suffix == ".jsonl":
        raw = path.read_bytes()
        samples = [s for s in parse_samples(raw, path) if s.split is None or s.split.assignment == split]
        return samples, "sha256:" + hashlib.sha256(raw).hexdigest()
    if not path.is_dir():
        raise DataError(f"data: bundle not found: {path}")
    from codesft.bundle import load_bundle

    try:
        bundle = load_bundle(path)
    except FileNotFoundError as exc:
        raise DataError(f"data: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise DataError(f"data: {path}: the bundle manifest is not valid JSON: {exc}") from None
    records = bundle.path / "samples.jsonl"
    if not records.is_file():
        raise DataError(f"data: {bundle.path} has a manifest but no samples.jsonl")
    samples = [s for s in parse_samples(records.read_bytes(), records)
               if s.split is not None and s.split.assignment == split]
    manifest = bundle.path / "manifest.json"  # path may name the bundle, not the version dir
    digest = (hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file()
              else hashlib.sha256(json.dumps(bundle.manifest, sort_keys=True, default=str).encode()).hexdigest())
    return samples, "sha256:" + digest


def parse_samples(raw: bytes, path: Path) -> list[Sample]:
    """Every non-blank line of a samples file as a Sample; the first line that is not one stops it (DataError)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"data: {path}:{line}: not UTF-8 (byte {exc.start})") from None
    samples = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            samples.append(Sample.from_json(line))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '<record>'}: {e['msg']}"
                                 for e in exc.errors()[:3])
            raise DataError(f"data: {path}:{lineno}: not a Sample record ({problems})") from None
    return samples


def records_hash(samples: Iterable[Sample]) -> str:
    """Hash of exactly the records trained on (ids, in order), next to the bundle's manifest hash."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.sample_id.encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def usable_faults(samples: list[Sample], allow_unverified: bool = False) -> tuple[list[Sample], int]:
    """The samples with every fault training may use, and how many faults were left out.

    A fault is used only when the sandbox saw its variant fail the sample's tests (`Fault.verified_failing`).
    A variant nothing ran (the sample had no tests, or `codesft faults --no-verify`) may be correct code, and
    training would teach the model to avoid it; such samples keep their record but lose the fault unless
    `allow_unverified` (the `allow_unverified_faults` train field)."""
    if allow_unverified:
        return samples, 0
    out, left_out = [], 0
    for s in samples:
        if s.fault is not None and s.fault.verified_failing is not True:
            s = s.model_copy(update={"fault": None})
            left_out += 1
        out.append(s)
    return out, left_out


def chat_messages(sample: Sample) -> list[dict[str, Any]]:
    out = []
    for m in sample.messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            d["tool_calls"] = [tc.model_dump() for tc in m.tool_calls]
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        if m.name:
            d["name"] = m.name
        out.append(d)
    return out


# ---------------------------------------------------------------- rendering

def render(tokenizer: Any, messages: list[dict[str, Any]], trained: list[bool] | None = None) -> tuple[str, list[Span]]:
    """Templated text and the character spans of the trained assistant turns.

    `trained[i]` says whether the i-th assistant message gets loss (Message.weight == 0 -> False).
    """
    template = tokenizer.chat_template
    if not template:
        raise DataError("the tokenizer has no chat template; set one (tokenizer.chat_template) or use an instruct model")
    n_assistant = sum(m["role"] == "assistant" for m in messages)
    trained = trained if trained is not None else [True] * n_assistant
    if "generation" in template and "endgeneration" in template:
        from transformers.utils.chat_template_utils import render_jinja_template

        texts, indices = render_jinja_template([messages], chat_template=template, return_assistant_tokens_mask=True,
                                               **tokenizer.special_tokens_map)
        text, spans = texts[0], [tuple(s) for s in indices[0]]
        if len(spans) == n_assistant:
            spans = [s for s, t in zip(spans, trained) if t]
        return text, [s for s in spans if s[1] > s[0]]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans, pos = [], 0
    eos = tokenizer.eos_token or ""
    turn = 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        content = m.get("content") or ""
        start = text.find(content, pos) if content else -1
        if start < 0:
            turn += 1
            continue
        end = start + len(content)
        if eos and text.startswith(eos, end):
            end += len(eos)
        if trained[turn]:
            spans.append((start, end))
        pos, turn = end, turn + 1
    return text, spans


def tokenize(tokenizer: Any, text: str, max_length: int) -> tuple[list[int], list[Span]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def overlap_mask(offsets: list[Span], spans: Iterable[Span]) -> list[int]:
    """1 for each token whose characters overlap any span. Both lists are sorted, so one sweep."""
    spans = sorted(s for s in spans if s[1] > s[0])
    out, j = [], 0
    for start, end in offsets:
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        hit = False
        k = j
        while k < len(spans) and spans[k][0] < end:
            if end > start and spans[k][1] > start:
                hit = True
                break
            k += 1
        out.append(int(hit))
    return out


def hybrid_mask(offsets: list[Span], line: list[Span], token: list[Span], mode: str = "hybrid") -> list[int]:
    """0/1/2 per token. Single-level ablations use 2 on their segments so they reach the full weight W."""
    lm, tm = overlap_mask(offsets, line), overlap_mask(offsets, token)
    if mode == "line":
        return [2 * a for a in lm]
    if mode == "token":
        return [2 * b for b in tm]
    return [a + b for a, b in zip(lm, tm)]


def _locate(content: str, code: str) -> tuple[int, int, int] | None:
    """(start in content, matched length, offset into code) of the code inside an assistant message.
    Exact first; else the stripped code (templates and writers often trim surrounding whitespace)."""
    i = content.find(code)
    if i >= 0 and code:
        return i, len(code), 0
    stripped = code.strip()
    if stripped and (i := content.find(stripped)) >= 0:
        return i, len(stripped), len(code) - len(code.lstrip())
    return None


def _shift(spans: list[CharSpan], base: int, offset: int, length: int) -> list[Span]:
    out = []
    for s in spans:
        a, b = max(s.start - offset, 0), min(s.end - offset, length)
        if b > a:
            out.append((base + a, base + b))
    return out


# ---------------------------------------------------------------- encoding

@dataclass
class Encoded:
    sample_id: str
    input_ids: list[int]
    labels: list[int]
    mask: list[int] | None = None
    incorrect_input_ids: list[int] | None = None
    incorrect_labels: list[int] | None = None
    incorrect_mask: list[int] | None = None
    problems: list[str] = field(default_factory=list)


def _last_assistant(messages: list[dict[str, Any]]) -> int | None:
    idx = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    return idx[-1] if idx else None


def _side(tokenizer: Any, messages: list[dict[str, Any]], trained: list[bool], code: str | None, spans,
          max_length: int, mask_mode: str, label: str) -> tuple[list[int], list[int], list[int] | None, list[str]]:
    """Encode one side (correct or incorrect); returns ids, labels, FGit mask (None without spans), problems."""
    problems: list[str] = []
    text, turns = render(tokenizer, messages, trained)
    ids, offsets = tokenize(tokenizer, text, max_length)
    in_turn = overlap_mask(offsets, turns)
    labels = [t if m else IGNORE for t, m in zip(ids, in_turn)]
    if not any(in_turn):
        problems.append(f"{label}: empty assistant mask (the template marks no assistant tokens)")
    mask = None
    if code is not None:
        # Find the code inside the last trained assistant turn of the rendered text.
        found = None
        for a, b in reversed(turns):
            loc = _locate(text[a:b], code)
            if loc is not None:
                found = (a + loc[0], loc[1], loc[2])
                break
        if found is None:
            problems.append(f"{label}: the code is not inside a trained assistant turn of the rendered template")
        else:
            start, length, offset = found
            code_tokens = overlap_mask(offsets, [(start, start + length)])
            truncated = not offsets or offsets[-1][1] < start + length
            if truncated:
                problems.append(f"{label}: the code is cut by max_length={max_length}")
            elif any(c and not m for c, m in zip(code_tokens, in_turn)):
                problems.append(f"{label}: the assistant mask does not cover all code tokens")
            if spans is not None:
                line = _shift(spans.line, start, offset, length)
                token = _shift(spans.token, start, offset, length)
                mask = [v if lab != IGNORE else 0 for v, lab in zip(hybrid_mask(offsets, line, token, mask_mode), labels)]
    return ids, labels, mask, problems


def encode(sample: Sample, tokenizer: Any, max_length: int, with_fault: bool = False, mask_mode: str = "hybrid") -> Encoded:
    messages = chat_messages(sample)
    trained = [m.weight != 0 for m in sample.messages if m.role == "assistant"]
    code = sample.code.solution if sample.code and sample.code.solution else None
    fault = sample.fault if with_fault else None
    ids, labels, mask, problems = _side(tokenizer, messages, trained, code, fault.correct_spans if fault else None,
                                        max_length, mask_mode, "correct")
    enc = Encoded(sample.sample_id, ids, labels, problems=problems)
    if fault is None:
        return enc
    if mask is None or not any(mask):
        enc.problems.append("correct: no error-sensitive token inside the labels (empty FGit mask)")
    last = _last_assistant(messages)
    # Same conversation, with the solution swapped for the incorrect variant exactly as the DPO pair swaps it.
    swapped = swap_solution(messages[last]["content"], code, fault.incorrect) if last is not None and code else None
    if swapped is None:
        return enc
    wrong_messages = [dict(m) for m in messages]
    wrong_messages[last]["content"] = swapped
    w_ids, w_labels, w_mask, w_problems = _side(tokenizer, wrong_messages, trained, fault.incorrect,
                                                fault.incorrect_spans, max_length, mask_mode, "incorrect")
    enc.problems.extend(w_problems)
    enc.mask, enc.incorrect_input_ids, enc.incorrect_labels, enc.incorrect_mask = mask, w_ids, w_labels, w_mask
    return enc


# ---------------------------------------------------------------- preflight

@dataclass
class PreflightReport:
    records: int
    ok: int
    label_tokens: int
    masked_tokens: int
    problems: dict[str, list[str]]  # sample_id -> problems
    skipped_without_fault: int = 0
    unverified_faults_left_out: int = 0  # faults whose variant never ran against tests (see `usable_faults`)

    @property
    def passed(self) -> bool:
        return self.records > 0 and not self.problems

    def add_problem(self, sample_id: str, problem: str) -> None:
        if sample_id not in self.problems:
            self.problems[sample_id] = []
            self.ok -= 1
        self.problems[sample_id].append(problem)

    def summary(self, limit: int = 20) -> str:
        lines = [f"mask preflight: {self.ok}/{self.records} records ok, {self.label_tokens} label tokens"
                 + (f", {self.masked_tokens} error-sensitive tokens" if self.masked_tokens else "")
                 + (f", {self.skipped_without_fault} records without a fault left out" if self.skipped_without_fault else "")
                 + (f", {self.unverified_faults_left_out} unverified faults not used (--allow-unverified-faults uses them)"
                    if self.unverified_faults_left_out else "")]
        if self.records == 0:
            lines.append("  no training records")
        for sid, probs in list(self.problems.items())[:limit]:
            lines.extend(f"  {sid}: {p}" for p in probs)
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more records with problems")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "ok": self.ok, "label_tokens": self.label_tokens,
                "masked_tokens": self.masked_tokens, "skipped_without_fault": self.skipped_without_fault,
                "unverified_faults_left_out": self.unverified_faults_left_out, "problems": self.problems}


def encode_all(samples: list[Sample], tokenizer: Any, max_length: int, with_fault: bool, mask_mode: str = "hybrid",
               pairs_only: bool = False) -> tuple[list[Encoded], PreflightReport]:
    """Encode every record and check its masks; the report lists every record with a problem."""
    kept = [s for s in samples if s.fault is not None] if pairs_only else samples
    out = [encode(s, tokenizer, max_length, with_fault, mask_mode) for s in kept]
    problems = {e.sample_id: e.problems for e in out if e.problems}
    report = PreflightReport(
        records=len(out), ok=len(out) - len(problems),
        label_tokens=sum(sum(lab != IGNORE for lab in e.labels) for e in out),
        masked_tokens=sum(sum(1 for m in (e.mask or []) if m) for e in out),
        problems=problems, skipped_without_fault=len(samples) - len(kept))
    return out, report


# ---------------------------------------------------------------- batching

class EncodedDataset:
    """A map-style dataset of dicts (what the Hugging Face Trainer's dataloader wants)."""

    def __init__(self, items: list[Encoded]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        e = self.items[i]
        d: dict[str, Any] = {"input_ids": e.input_ids, "labels": e.labels}
        if e.mask is not None:
            d.update(fgit_mask=e.mask, incorrect_input_ids=e.incorrect_input_ids,
                     incorrect_labels=e.incorrect_labels, incorrect_mask=e.incorrect_mask)
        return d


@dataclass
class Collator:
    """Right-pads each field to the longest sequence in the batch (per half: correct, incorrect)."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        def pad(key: str, value: int) -> torch.Tensor:
            rows = [f[key] for f in features]
            width = max(len(r) for r in rows)
            return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)

        def attention(key: str) -> torch.Tensor:
            width = max(len(f[key]) for f in features)
            return torch.tensor([[1] * len(f[key]) + [0] * (width - len(f[key])) for f in features], dtype=torch.long)

        batch = {"input_ids": pad("input_ids", self.pad_token_id), "attention_mask": attention("input_ids"),
                 "labels": pad("labels", IGNORE)}
        if "fgit_mask" in features[0]:
            batch.update(fgit_mask=pad("fgit_mask", 0),
                         incorrect_input_ids=pad("incorrect_input_ids", self.pad_token_id),
                         incorrect_attention_mask=attention("incorrect_input_ids"),
                         incorrect_labels=pad("incorrect_labels", IGNORE), incorrect_mask=pad("incorrect_mask", 0))
        return batch
