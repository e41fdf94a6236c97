"""The generation settings every command that draws answers from a model shares (`eval run`, `sample`,
`augment`): one declaration of each field, and one `build_backend` that turns them into a backend.

Command configs declare these fields with the `Gen*` types below rather than by inheriting, as they do the
sandbox fields: inheriting would move the fields to the front of each config, and the settings that differ
between commands (the model's description, the default temperature) stay with the command.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Backend = Literal["transformers", "openai", "llamacpp"]


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = Field(default="transformers", description="Generation backend: local transformers; an OpenAI-compatible server at --base-url (vLLM, SGLang, a hosted API); or llamacpp, a llama.cpp llama-server that codesft starts for the command on a free loopback port and stops at its end (a .gguf file, offline:NAME or a transformers directory, converted once; the fastest engine on a CPU, see docs/sample.md).")
    base_url: str | None = Field(default=None, description="OpenAI-compatible server root, e.g. http://127.0.0.1:8000/v1 (backend openai).")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the API key (backend openai); never stored.")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling mass (when temperature > 0).")
    max_new_tokens: int = Field(default=512, ge=1, description="Tokens generated at most per answer.")
    dtype: str = Field(default="auto", description="auto (bf16 on a GPU or on a CPU with native bf16 (AVX512-BF16/AMX), else fp32), fp32, bf16 or fp16 (transformers backend).")
    device: str | None = Field(default=None, description="torch device (transformers backend); default cuda when available, else cpu.")
    concurrency: int = Field(default=4, ge=1, description="Requests in flight (openai backend; llamacpp uses --slots).")
    request_timeout_s: float = Field(default=300.0, gt=0, description="Timeout per HTTP request (openai and llamacpp backends).")
    max_retries: int = Field(default=3, ge=0, description="Retries on connection errors, timeouts, 429 and 5xx (openai and llamacpp backends).")
    llama_server: str | None = Field(default=None, description="llama-server binary (backend llamacpp); default $CODESFT_LLAMA_SERVER, then llama-server on PATH, then the one `codesft llamacpp build` put in the cache.")
    slots: int = Field(default=16, ge=1, le=256, description="Parallel slots of the managed llama-server (backend llamacpp): answers decoded together in one batch (16: the measured setting on 2 CPU cores, docs/sample.md).")
    ctx_per_slot: int = Field(default=2048, ge=256, description="Context tokens per slot of the managed llama-server (prompt + answer).")
    threads: int | None = Field(default=None, ge=1, description="CPU threads of the managed llama-server; default the CPU count.")
    llama_args: list[str] = Field(default_factory=list, description="Extra llama-server flags for the managed server (backend llamacpp), e.g. ['--flash-attn', 'on']; the port, host, model, slots, context and threads are codesft's.")
    share_prompt: bool = Field(default=False, description="Backend llamacpp: send the answers of one prompt as one request with n answers (its prompt processed once) instead of one request per answer; slower on a CPU, where such a request holds its slots until its longest answer ends (docs/sample.md).")


def _f(name: str) -> Any:
    return GenerationSettings.model_fields[name]


GenBackend = Annotated[Backend, _f("backend")]
GenBaseUrl = Annotated["str | None", _f("base_url")]
GenApiKeyEnv = Annotated[str, _f("api_key_env")]
GenTopP = Annotated[float, _f("top_p")]
GenMaxNewTokens = Annotated[int, _f("max_new_tokens")]
GenDtype = Annotated[str, _f("dtype")]
GenDevice = Annotated["str | None", _f("device")]
GenConcurrency = Annotated[int, _f("concurrency")]
GenRequestTimeout = Annotated[float, _f("request_timeout_s")]
GenMaxRetries = Annotated[int, _f("max_retries")]
GenLlamaServer = Annotated["str | None", _f("llama_server")]
GenSlots = Annotated[int, _f("slots")]
GenCtxPerSlot = Annotated[int, _f("ctx_per_slot")]
GenThreads = Annotated["int | None", _f("threads")]
GenSharePrompt = Annotated[bool, _f("share_prompt")]
GenLlamaArgs = Annotated[list[str], _f("llama_args")]


def check_backend_inputs(cfg: Any) -> None:
    """The inputs a backend cannot run without (raises ValueError, which a config validator reports)."""
    if not getattr(cfg, "model", None):
        raise ValueError("a model is needed (--model)")
    if cfg.backend == "openai" and not cfg.base_url:
        raise ValueError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if cfg.backend == "llamacpp" and cfg.base_url:
        raise ValueError("--backend llamacpp starts its own server: drop --base-url, or use --backend openai "
                         "for a server that is already running")


def build_backend(cfg: Any, *, stops: list[str], logprobs: bool, batch_size: int = 8) -> Any:
    """The backend `cfg` names (a config declaring the fields above plus model and temperature). Every backend
    has `generate`, `provenance`, `device` and `close()`; the caller closes it (llamacpp stops its server)."""
    from codesft.evaluate.backends import (
        OpenAIBackend,
        TransformersBackend,
        api_key_from_env,
    )

    common = dict(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, stops=stops)
    if cfg.backend == "openai":
        return OpenAIBackend(cfg.base_url or "", cfg.model or "", api_key=api_key_from_env(cfg.api_key_env),
                             concurrency=cfg.concurrency, timeout_s=cfg.request_timeout_s,
                             max_retries=cfg.max_retries, logprobs=logprobs, **common)
    if cfg.backend == "llamacpp":
        from codesft.evaluate.llamacpp import LlamaCppBackend

        return LlamaCppBackend.start(cfg.model or "", llama_server=cfg.llama_server, slots=cfg.slots,
                                     ctx_per_slot=cfg.ctx_per_slot, threads=cfg.threads,
                                     share_prompt=cfg.share_prompt, extra_args=list(cfg.llama_args),
                                     timeout_s=cfg.request_timeout_s, max_retries=cfg.max_retries,
                                     logprobs=logprobs, **common)
    return TransformersBackend.from_source(cfg.model or "", dtype=cfg.dtype, device=cfg.device,
                                           batch_size=batch_size, logprobs=logprobs, **common)
