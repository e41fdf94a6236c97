"""Getting the llama.cpp engine of `--backend llamacpp` ready: the `llama-server` binary (found, or built by
`codesft llamacpp build` from the llama.cpp sources the `llama-cpp-python` sdist vendors) and the model as a
GGUF file (an offline model's parts joined, or a transformers / LoRA directory converted once). The server
process itself and the backend that talks to it are in `codesft.evaluate.llamacpp`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The llama-cpp-python release whose vendored llama.cpp `codesft llamacpp build` compiles.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SERVER_ENV = "CODESFT_LLAMA_SERVER"
_CMAKE_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
                "-DGGML_NATIVE=ON"]


class EngineError(RuntimeError):
    """The engine cannot serve (no binary, a server that died or never became healthy): a harness fault."""


def engine_dir(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    from codesft.models import cache_dir

    return cache_dir() / "llama.cpp" / version


def find_server(explicit: str | None = None) -> Path:
    """The llama-server binary to run (see the module docstring for the order)."""
    for candidate, origin in ((explicit, "--llama-server"), (os.environ.get(SERVER_ENV), f"${SERVER_ENV}")):
        if candidate:
            p = Path(candidate).expanduser()
            if not (p.is_file() and os.access(p, os.X_OK)):
                raise EngineError(f"{origin} {candidate}: not an executable file")
            return p
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    built = engine_dir() / "bin" / "llama-server"
    if built.is_file():
        return built
    raise EngineError("--backend llamacpp needs llama.cpp's llama-server and none was found (--llama-server PATH, "
                      f"${SERVER_ENV}, PATH, or the cache). Build it once with `codesft llamacpp build` "
                      "(cmake and a C++ compiler; about 4 minutes on 2 cores).")


def server_version(binary: Path) -> str:
    """`llama-server --version`'s first line, e.g. 'version: 1 (0c1e570)'."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"{binary} --version failed: {exc}") from None
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip().startswith("version")]
    if out.returncode != 0 or not lines:
        raise EngineError(f"{binary} --version failed (exit {out.returncode}): {(out.stderr or out.stdout)[-300:]}")
    return lines[0]


# size: one linear recipe (download, unpack, configure, build, install); splitting it would only scatter it
def build_server(version: str = LLAMA_CPP_PYTHON_VERSION, jobs: int | None = None,
                 log: Callable[[str], None] = print) -> Path:
    """Download the llama-cpp-python sdist from PyPI, build its vendored llama.cpp's `llama-server` with cmake,
    and install the binary (and the HF -> GGUF converter of the same sources) into the cache."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise EngineError("building llama-server needs cmake (pip install 'codesft[llamacpp]' or apt install cmake)")
    dest = engine_dir(version)
    with tempfile.TemporaryDirectory(prefix="codesft-llamacpp-") as td:
        tmp = Path(td)
        log(f"downloading llama-cpp-python=={version} (sdist) from the package index")
        subprocess.run([sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}", "--no-deps",
                        "--no-binary", ":all:", "--quiet", "-d", str(tmp)], check=True)
        sdist = next(tmp.glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tf:
            tf.extractall(tmp, filter="data")
        src = next(tmp.glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = tmp / "build"
        build_log = tmp / "build.log"
        log(f"configuring {src.name} with cmake")
        _logged([cmake, "-S", str(src), "-B", str(build), *_CMAKE_FLAGS], build_log)
        log(f"compiling llama-server with {jobs or os.cpu_count()} jobs (minutes)")
        _logged([cmake, "--build", str(build), "--target", "llama-server", "-j", str(jobs or os.cpu_count())],
                build_log)
        staged = Path(tempfile.mkdtemp(dir=dest.parent if dest.parent.exists() else _mkdir(dest.parent),
                                       prefix=".build-"))
        (staged / "bin").mkdir()
        shutil.copy2(build / "bin" / "llama-server", staged / "bin" / "llama-server")
        # The converter of the same sources, for `--model <transformers dir>` (it needs its own gguf-py).
        conv = staged / "convert"
        conv.mkdir()
        shutil.copy2(src / "convert_hf_to_gguf.py", conv / "convert_hf_to_gguf.py")
        for sub in ("gguf-py", "conversion"):
            if (src / sub).is_dir():
                shutil.copytree(src / sub, conv / sub)
        for lic in ("LICENSE",):
            shutil.copy2(src / lic, staged / "LICENSE-llama.cpp")
        info = {"llama_cpp_python": version, "version": server_version(staged / "bin" / "llama-server"),
                "cmake_flags": _CMAKE_FLAGS}
        (staged / "engine.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    log(f"llama-server installed: {dest / 'bin' / 'llama-server'} ({info['version']})")
    return dest / "bin" / "llama-server"


def _logged(cmd: list[str], log_file: Path) -> None:
    """Run a build step with its (long, warning-laden) output in a log; a failure shows the log's tail."""
    with open(log_file, "ab") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log_file.read_bytes()[-1500:].decode("utf-8", "replace")
        raise EngineError(f"{' '.join(cmd[:3])} ... failed (exit {done.returncode}):\n{tail}")


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def gguf_for(model: str, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> tuple[Path, dict[str, Any]]:
    """(GGUF file, provenance) for a model source: a .gguf file, offline:NAME, or a transformers directory."""
    from codesft.models import (
        OFFLINE_MODELS,
        OFFLINE_PREFIX,
        ModelSourceError,
        _file_lock,
        assemble_offline_gguf,
        cache_dir,
        resolve_model_source,
        sha256_file,
    )

    if model.startswith(OFFLINE_PREFIX):
        name = model[len(OFFLINE_PREFIX):]
        spec = OFFLINE_MODELS.get(name)
        if spec is None:
            raise ModelSourceError(f"unknown offline model '{name}'; known: {', '.join(sorted(OFFLINE_MODELS))}")
        out = cache_dir() / "gguf" / f"{name}.gguf"
        with _file_lock(out.with_suffix(".lock")):
            # Joined (and sha256-checked) once; a file of the pinned size is that join, written atomically.
            if not (out.is_file() and out.stat().st_size == spec["size"]):
                log(f"joining the parts of {model} into {out}")
                tmp = assemble_offline_gguf(name, out.with_suffix(".partial"))
                tmp.rename(out)
        # llama.cpp runs the quantized weights as they are (transformers dequantizes them on load).
        quant = spec["quantization"].split(" (")[0]
        return out, {"source": model, "kind": "offline", "gguf_sha256": spec["sha256"],
                     "quantization": f"{quant} (run as is by llama.cpp)", "revision": f"gguf-sha256:{spec['sha256']}"}
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        digest = sha256_file(path)
        return path, {"source": model, "kind": "gguf", "gguf_sha256": digest, "revision": f"gguf-sha256:{digest}"}
    if path.is_dir():
        # A transformers directory, or a LoRA adapter as `codesft train` writes it (merged onto its base first).
        _, info = resolve_model_source(model)
        key = hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()[:16]
        out = cache_dir() / "gguf" / f"hf-{key}.gguf"
        with _file_lock(out.with_suffix(".lock")):
            if not out.is_file():
                _convert_to_gguf(model, info, out, log)
        return out, {**info, "kind": f"{info['kind']}-converted-to-gguf", "gguf_sha256": sha256_file(out)}
    raise ModelSourceError(f"--backend llamacpp needs a .gguf file, offline:NAME, a transformers directory or a "
                           f"LoRA adapter directory; got {model!r}")


def _convert_to_gguf(model: str, info: dict[str, Any], out: Path, log: Callable[[str], None]) -> None:
    conv = engine_dir() / "convert" / "convert_hf_to_gguf.py"
    if not conv.is_file():
        raise EngineError(f"converting {model} to GGUF needs the converter that `codesft llamacpp build` "
                          "installs; run it first (or pass a .gguf file)")
    log(f"converting {model} to GGUF (bf16) once: {out}")
    tmp = out.with_suffix(".partial")
    env = {**os.environ, "PYTHONPATH": str(conv.parent / "gguf-py")}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".merge-") as td:
        src = Path(info.get("path") or model)
        if info["kind"] == "adapter":
            from codesft.models import load_model_and_tokenizer

            merged, tok = load_model_and_tokenizer(model, dtype="bf16", device="cpu")
            merged.save_pretrained(td)
            tok.save_pretrained(td)
            src = Path(td)
        done = subprocess.run([sys.executable, str(conv), str(src), "--outfile", str(tmp), "--outtype", "bf16"],
                              env=env, capture_output=True, text=True)
    if done.returncode != 0 or not tmp.is_file():
        raise EngineError(f"GGUF conversion of {model} failed: {(done.stderr or done.stdout)[-600:]}")
    tmp.rename(out)


def engine_info(version: str = LLAMA_CPP_PYTHON_VERSION) -> dict[str, Any]:
    """What `codesft llamacpp info` prints: the binary found (or why none) and the cached build."""
    info: dict[str, Any] = {"cache": str(engine_dir(version))}
    try:
        binary = find_server()
        info.update(binary=str(binary), version=server_version(binary))
    except EngineError as exc:
        info["error"] = str(exc)
    meta = engine_dir(version) / "engine.json"
    if meta.is_file():
        info["built"] = json.loads(meta.read_text(encoding="utf-8"))
    return info

