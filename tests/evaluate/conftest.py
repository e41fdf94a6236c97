"""Fixtures for the eval tests: a tiny random model built here (no downloads) and a local fake
OpenAI-compatible server on 127.0.0.1 that stops itself."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Qwen2 with random weights and a byte-level BPE tokenizer trained here on a few code lines."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    corpus = ["def add(a, b):\n    return a + b\n", "import math\nfrom typing import List\n",
              "    for i in range(len(numbers)):\n        if x < y:\n            return True\n    return False\n",
              '"""Check if in given list of numbers, are any two numbers closer"""\n'] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = Qwen2ForCausalLM(cfg)
    d = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(d)
    fast.save_pretrained(d)
    return d


class FakeOpenAI:
    """Answers /v1/completions and /v1/chat/completions from a table: substring of the prompt -> list of
    actions, consumed in order (the last repeats). Actions: ("ok", text), ("http", status), ("garbage", raw),
    ("length", text): an answer cut at max_tokens (finish_reason "length")."""

    def __init__(self, table: dict[str, list[tuple[str, object]]], lifetime_s: float = 120.0) -> None:
        self.table = {k: list(v) for k, v in table.items()}
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = body.get("prompt") or json.dumps(body.get("messages"))
                with outer.lock:
                    outer.calls.append({"path": self.path, "body": body})
                    key = next((k for k in outer.table if k in text), None)
                    actions = outer.table.get(key) or [("ok", "")]
                    action = actions.pop(0) if len(actions) > 1 else actions[0]
                kind, val = action
                if kind == "http":
                    self.send_response(int(val))
                    self.end_headers()
                    self.wfile.write(b'{"error": "injected"}')
                    return
                if kind == "garbage":
                    payload = str(val).encode()
                else:
                    finish = "length" if kind == "length" else "stop"
                    choice = ({"message": {"role": "assistant", "content": val}, "finish_reason": finish}
                              if self.path.endswith("/chat/completions") else {"text": val, "finish_reason": finish})
                    payload = json.dumps({"choices": [choice], "usage": {"completion_tokens": 7}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        # Bounded: stops itself even if a test forgets to (or dies before) shutting it down.
        self.timer = threading.Timer(lifetime_s, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.timer.cancel()


@pytest.fixture
def fake_openai():
    servers: list[FakeOpenAI] = []

    def start(table):
        s = FakeOpenAI(table)
        servers.append(s)
        return s

    yield start
    for s in servers:
        try:
            s.stop()
        except Exception:
            pass
