"""Variant generators: mutation (AST, offline), teacher (OpenAI-compatible endpoint), local (transformers).

A generator maps a batch of samples to candidate codes per sample; filtering (parse, identity,
sandbox) and selection happen in the pipeline, the same for all three.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from string import Template
from typing import Any, NamedTuple, Protocol

from codesft.faults.config import FaultsConfig
from codesft.faults.mutation import mutate
from codesft.schema import Sample

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)


class Candidate(NamedTuple):
    code: str
    operator: str  # mutation operator + detail, or teacher:/local: model id


class Generator(Protocol):
    name: str

    def generate(self, samples: list[Sample]) -> list[list[Candidate]]: ...


def prompt_messages(sample: Sample) -> list[dict[str, str]]:
    """The fault prompt (codesft/templates/fault_prompt.md) filled in for one sample."""
    text = resources.files("codesft").joinpath("templates/fault_prompt.md").read_text(encoding="utf-8")
    problem = sample.user_text().strip() or (sample.code.prompt or "").strip() or "(no task text)"
    filled = Template(text).safe_substitute(language=sample.code.language, problem=problem,
                                            code=sample.code.solution.rstrip("\n"))
    return [{"role": "user", "content": filled}]


def extract_code(text: str, language: str = "python") -> str | None:
    """The first fenced block (preferring one tagged with the language); the whole text when unfenced."""
    blocks = _FENCE.findall(text or "")
    if blocks:
        tagged = [body for tag, body in blocks if tag.lower() in (language, "py")]
        return (tagged or [body for _, body in blocks])[0]
    stripped = (text or "").strip()
    return stripped + "\n" if stripped else None


def _match_trailing_newline(code: str, reference: str) -> str:
    # Models drop or add the final newline at random; matching the reference keeps it out of the diff spans.
    code = code.rstrip("\n")
    return code + "\n" if reference.endswith("\n") else code


class MutationGenerator:
    name = "mutation"

    def __init__(self, config: FaultsConfig):
        self.k, self.seed = config.k, config.seed

    def generate(self, samples: list[Sample]) -> list[list[Candidate]]:
        return [[Candidate(v.code, f"{v.operator}: {v.detail}") for v in
                 mutate(s.code.solution, self.k, self.seed, key=s.sample_id)] for s in samples]


class TeacherGenerator:
    """K chat-completion requests per sample (temperature 0.8), several samples in flight at once."""

    name = "teacher"

    def __init__(self, config: FaultsConfig):
        self.config = config
        self.url = config.teacher_url.rstrip("/") + "/chat/completions"
        self.api_key = os.environ.get(config.teacher_api_key_env, "")

    def _complete(self, messages: list[dict[str, str]], seed: int) -> str:
        body = {"model": self.config.teacher_model, "messages": messages, "temperature": self.config.temperature,
                "max_tokens": self.config.max_new_tokens, "seed": seed}
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        with urllib.request.urlopen(req, timeout=self.config.request_timeout_s) as resp:
            data = json.loads(resp.read().decode("utf-8"))
        return data["choices"][0]["message"].get("content") or ""

    def _one(self, sample: Sample) -> list[Candidate]:
        out = []
        for j in range(self.config.k):
            try:
                text = self._complete(prompt_messages(sample), self.config.seed * 1000 + j)
            except (urllib.error.URLError, TimeoutError, KeyError, IndexError, ValueError) as exc:
                raise RuntimeError(f"teacher request to {self.url} failed: {exc}") from exc
            code = extract_code(text, sample.code.language)
            if code:
                out.append(Candidate(_match_trailing_newline(code, sample.code.solution),
                                     f"teacher:{self.config.teacher_model}"))
        return out

    def generate(self, samples: list[Sample]) -> list[list[Candidate]]:
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(self._one, samples))


class LocalGenerator:
    """A transformers model with the same prompt; K sampled continuations per sample."""

    name = "local"

    def __init__(self, config: FaultsConfig):
        import torch

        from codesft.models import load_model_and_tokenizer

        self.config = config
        self.model, self.tokenizer = load_model_and_tokenizer(config.model, padding_side="left")
        torch.manual_seed(config.seed)

    def generate(self, samples: list[Sample]) -> list[list[Candidate]]:
        import torch

        out = []
        for s in samples:
            ids = self.tokenizer.apply_chat_template(prompt_messages(s), add_generation_prompt=True,
                                                     return_tensors="pt", return_dict=True).to(self.model.device)
            with torch.no_grad():
                gen = self.model.generate(**ids, do_sample=True, temperature=self.config.temperature,
                                          max_new_tokens=self.config.max_new_tokens,
                                          num_return_sequences=self.config.k,
                                          pad_token_id=self.tokenizer.pad_token_id)
            texts = self.tokenizer.batch_decode(gen[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)
            cands = []
            for text in texts:
                code = extract_code(text, s.code.language)
                if code:
                    cands.append(Candidate(_match_trailing_newline(code, s.code.solution), f"local:{self.config.model}"))
            out.append(cands)
        return out


def make_generator(config: FaultsConfig) -> Any:
    return {"mutation": MutationGenerator, "teacher": TeacherGenerator, "local": LocalGenerator}[config.generator](config)
