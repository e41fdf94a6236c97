"""Generation backends: local transformers, and any OpenAI-compatible server (vLLM, llama.cpp, SGLang, hosted).

Both take a list of `GenRequest`s and yield `Generation`s; neither raises for a single bad request: a failed
request becomes a Generation with `error` set, which the runner records as a failed sample with its reason.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator


@dataclass
class GenRequest:
    key: str
    prompt: str | None = None                  # completion mode
    messages: list[dict[str, str]] | None = None  # instruct mode
    seed: int = 0


@dataclass
class Generation:
    key: str
    text: str = ""
    n_tokens: int = 0
    mean_logprob: float | None = None
    finish_reason: str = ""
    error: str = ""
    time_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def truncate(text: str, stops: list[str]) -> tuple[str, bool]:
    cut = len(text)
    for s in stops:
        i = text.find(s) if s else -1
        if i != -1:
            cut = min(cut, i)
    return text[:cut], cut < len(text)


class TransformersBackend:
    """Batched local generation: prompts sorted by length so a batch pads little, left padding, KV cache,
    stop strings checked per row (a finished row stops counting; the batch ends when all rows are done)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_new_tokens: int = 512, temperature: float = 0.0,
                 top_p: float = 0.95, stops: list[str] | None = None, batch_size: int = 8,
                 logprobs: bool = True) -> None:
        self.model, self.tok = model, tokenizer
        # Per-step scores cost batch x vocab floats per token (GBs for a 150k vocab over 512 steps):
        # kept only when mean log-probabilities are wanted (n@k ranking).
        self.logprobs = logprobs
        self.tok.padding_side = "left"  # decoder-only batching: new tokens must follow the prompt directly
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.stops = [s for s in (stops or []) if s]
        self.batch_size = max(1, batch_size)

    @classmethod
    def from_source(cls, source: str, dtype: str = "auto", device: str | None = None, **kw: Any) -> "TransformersBackend":
        from codesft.models import load_model_and_tokenizer

        model, tok = load_model_and_tokenizer(source, dtype=dtype, device=device, padding_side="left")
        return cls(model, tok, **kw)

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(getattr(self.model, "codesft_source", {}) or {"source": type(self.model).__name__})

    @property
    def device(self) -> str:
        from codesft.models import device_description

        return device_description(self.model.device)

    def close(self) -> None:
        """Nothing to stop: the model lives in this process."""

    def render(self, req: GenRequest) -> str:
        if req.messages is not None:
            return self.tok.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True)
        return req.prompt or ""

    def generate(self, requests: list[GenRequest]) -> Iterator[list[Generation]]:
        """Yields one list per batch, so the caller can persist progress batch by batch."""
        texts = [self.render(r) for r in requests]
        lengths = [len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(requests)), key=lambda i: -lengths[i])
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            t0 = time.perf_counter()
            try:
                gens = self._generate_batch([texts[i] for i in idx], [requests[i] for i in idx])
            except Exception as exc:  # noqa: BLE001 - one bad batch (OOM, bad template) must not end the run
                gens = [Generation(key=requests[i].key, error=f"generation failed: {type(exc).__name__}: {exc}")
                        for i in idx]
            dt = (time.perf_counter() - t0) / max(1, len(idx))
            for g in gens:
                g.time_s = round(dt, 4)
            yield gens

    def _generate_batch(self, texts: list[str], reqs: list[GenRequest]) -> list[Generation]:
        import torch

        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        sample = self.temperature > 0
        kwargs: dict[str, Any] = dict(max_new_tokens=self.max_new_tokens, do_sample=sample,
                                      pad_token_id=self.tok.pad_token_id, return_dict_in_generate=True,
                                      output_scores=self.logprobs, use_cache=True)
        if sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
            torch.manual_seed(reqs[0].seed)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.stops:
            kwargs.update(stop_strings=self.stops, tokenizer=self.tok)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        prompt_len = enc["input_ids"].shape[1]
        new = out.sequences[:, prompt_len:]
        scores = (self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
                  if self.logprobs else None)
        eos_ids = set(self._eos_ids())
        gens = []
        for row, req in enumerate(reqs):
            ids = new[row].tolist()
            n = len(ids)
            finish = "length"
            for j, t in enumerate(ids):
                if t in eos_ids:
                    n, finish = j, "eos"
                    break
            text = self.tok.decode(ids[:n], skip_special_tokens=True)
            text, stopped = truncate(text, self.stops)
            if stopped:
                finish = "stop"
            mean_lp = None
            if scores is not None:
                lp = scores[row, :n].float()
                lp = lp[torch.isfinite(lp)]
                mean_lp = float(lp.mean()) if lp.numel() else None
            gens.append(Generation(key=req.key, text=text, n_tokens=n, finish_reason=finish, mean_logprob=mean_lp))
        return gens

    def _eos_ids(self) -> list[int]:
        ids = []
        gc = getattr(self.model, "generation_config", None)
        e = getattr(gc, "eos_token_id", None) if gc is not None else None
        ids += e if isinstance(e, list) else ([e] if e is not None else [])
        if self.tok.eos_token_id is not None:
            ids.append(self.tok.eos_token_id)
        if self.tok.pad_token_id is not None:
            ids.append(self.tok.pad_token_id)
        return ids


class OpenAIBackend:
    """`/v1/completions` (completion mode) or `/v1/chat/completions` (instruct mode), one request per sample,
    `concurrency` in flight, retries with exponential backoff and jitter on connection errors, timeouts,
    429 and 5xx; any other failure is returned as an error, never raised."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_new_tokens: int = 512,
                 temperature: float = 0.0, top_p: float = 0.95, stops: list[str] | None = None,
                 concurrency: int = 4, timeout_s: float = 120.0, max_retries: int = 3, backoff_s: float = 1.0,
                 logprobs: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.stops = [s for s in (stops or []) if s]
        self.concurrency, self.timeout_s = max(1, concurrency), timeout_s
        self.max_retries, self.backoff_s, self.logprobs = max_retries, backoff_s, logprobs

    @property
    def provenance(self) -> dict[str, Any]:
        return {"source": self.model, "kind": "openai-compatible", "base_url": self.base_url,
                "revision": "served-model:" + self.model}

    @property
    def device(self) -> str:
        return f"served by {self.base_url}"

    def close(self) -> None:
        """Nothing to stop: the server is someone else's (the llamacpp subclass stops its own)."""

    def _payload(self, req: GenRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_new_tokens,
                                "temperature": self.temperature, "seed": req.seed}
        if self.temperature > 0:
            body["top_p"] = self.top_p
        if self.stops:
            body["stop"] = self.stops[:4]  # the API takes at most 4; the rest are applied after the fact
        if req.messages is not None:
            body["messages"] = req.messages
            if self.logprobs:
                body["logprobs"] = True
            return "/chat/completions", body
        body["prompt"] = req.prompt or ""
        if self.logprobs:
            body["logprobs"] = 1
        return "/completions", body

    def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str, float]:
        """(response JSON, error, seconds): retries connection errors, timeouts, 429 and 5xx; never raises."""
        import requests

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        t0 = time.perf_counter()
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)) * (1 + random.random() * 0.25))
            try:
                resp = requests.post(self.base_url + path, json=body, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"request failed: {type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code >= 400:
                return None, f"HTTP {resp.status_code}: {resp.text[:300]}", time.perf_counter() - t0
            try:
                data = resp.json()
            except ValueError as exc:
                return None, f"malformed response: {type(exc).__name__}: {exc}", time.perf_counter() - t0
            return data, "", time.perf_counter() - t0
        return None, f"gave up after {self.max_retries + 1} attempts: {last}", time.perf_counter() - t0

    def _one(self, req: GenRequest) -> Generation:
        data, error, dt = self._post(*self._payload(req))
        if error:
            return Generation(key=req.key, error=error, time_s=dt)
        try:
            usage = data.get("usage") or {}
            return self._parse_choice(req, data["choices"][0], int(usage.get("completion_tokens") or 0), dt)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return Generation(key=req.key, error=f"malformed response: {type(exc).__name__}: {exc}", time_s=dt)

    def _parse_choice(self, req: GenRequest, choice: dict[str, Any], n_tokens: int, dt: float) -> Generation:
        text = choice["message"].get("content") or "" if "message" in choice else choice.get("text") or ""
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        lps: list[float] = []
        lp = choice.get("logprobs") or {}
        if isinstance(lp, dict):
            if lp.get("content"):
                lps = [t.get("logprob") for t in lp["content"] if t.get("logprob") is not None]
            elif lp.get("token_logprobs"):
                lps = [x for x in lp["token_logprobs"] if x is not None]
        text, stopped = truncate(text, self.stops)
        return Generation(key=req.key, text=text, n_tokens=n_tokens,
                          mean_logprob=(sum(lps) / len(lps)) if lps else None,
                          finish_reason="stop" if stopped else str(choice.get("finish_reason") or ""),
                          time_s=round(dt, 4))

    def generate(self, requests_: list[GenRequest]) -> Iterator[list[Generation]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._one, r) for r in requests_]
            yield from wall_shares([fut.result()] for fut in as_completed(futures))


def wall_shares(batches: Iterable[list[Generation]]) -> Iterator[list[Generation]]:
    """Requests in flight at once overlap, so summing their latencies counts the same seconds once per request in
    flight (16x with 16 slots). Each generation's `time_s` becomes instead its share of the wall time since the
    batch before it: the times sum to the wall time of generating, as the batched backend's shares do."""
    last = time.perf_counter()
    for gens in batches:
        now = time.perf_counter()
        for g in gens:
            g.time_s = round((now - last) / max(1, len(gens)), 4)
        last = now
        yield gens


def api_key_from_env(name: str | None) -> str | None:
    return os.environ.get(name) if name else None
