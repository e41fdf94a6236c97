"""A stand-in for llama.cpp's `llama-server`, run as its own process by the tests of `--backend llamacpp`: it
takes the same command line, answers /health, /v1/chat/completions (with `n` answers, child j seeded
seed + j as llama-server does) and /tokenize, logs every completion request to $FAKE_LLAMA_LOG and writes its
pid to $FAKE_LLAMA_PID. Answers are scripted by the request's text and seed: even seeds answer correctly."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {
    "greatest common divisor": ("def gcd(a: int, b: int) -> int:\n    while b:\n        a, b = b, a % b\n    return a\n",
                                "def gcd(a: int, b: int) -> int:\n    while b:\n        a, b = b, a % b\n    return b\n"),
    "Fibonacci": ("def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
                  "def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return b\n"),
    "add two numbers": ("def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"),
}


def answer(text: str, seed: int) -> str:
    for key, (ok, wrong) in ANSWERS.items():
        if key in text:
            # Cut where llama-server cuts at the stop string "\n```\n": the closing fence is not sent.
            return f"```python\n{ok if seed % 2 == 0 else wrong}".rstrip("\n")
    return "I cannot solve this."


def main() -> None:
    if "--version" in sys.argv:
        print("version: 42 (fakeserver)\nbuilt with a test for Linux", file=sys.stderr)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", dest="model", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--ctx-size", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--alias", default="model")
    ap.add_argument("--no-webui", action="store_true")
    ap.add_argument("--flash-attn", choices=["on", "off", "auto"])  # one of the flags passed by --llama-args
    args = ap.parse_args()
    if os.environ.get("FAKE_LLAMA_ARGV"):
        with open(os.environ["FAKE_LLAMA_ARGV"], "w") as fh:
            json.dump(sys.argv[1:], fh)
    if os.environ.get("FAKE_LLAMA_PID"):
        with open(os.environ["FAKE_LLAMA_PID"], "w") as fh:
            fh.write(str(os.getpid()))
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            # 503 while "loading the model", as llama-server does.
            if self.path == "/health":
                ready = time.monotonic() - started > 0.3
                self._send(200 if ready else 503, {"status": "ok" if ready else "loading model"})
            else:
                self._send(404, {})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/tokenize":
                self._send(200, {"tokens": list(range(len(body["content"].split())))})
                return
            if os.environ.get("FAKE_LLAMA_LOG"):
                with open(os.environ["FAKE_LLAMA_LOG"], "a") as fh:
                    fh.write(json.dumps(body) + "\n")
            n = int(body.get("n", 1))
            if n > args.parallel:
                self._send(400, {"error": "n exceeds the slots"})
                return
            text = json.dumps(body["messages"])
            choices = [{"index": j, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer(text, int(body["seed"]) + j)}}
                       for j in range(n)]
            self._send(200, {"choices": choices, "usage": {"completion_tokens": 7}})

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
