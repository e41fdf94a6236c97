"""Exported openai_chat and dpo files go through TRL's own dataset preparation on a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesft.bundle import write_bundle
from codesft.curate.config import SplitConfig
from codesft.curate.split import with_split
from codesft.schema import Fault
from codesft.curate.synthetic import make_sample

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["def add ( a , b ) : return a + b", "<|user|> <|assistant|> <|system|> <|end|>", "python ``` write code"]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _tiny_model(vocab: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("trl")
    samples = []
    for i in range(6):
        s = make_sample(i)
        s.fault = Fault(incorrect=s.code.solution.replace("return ", "return 1 + "), generator="mutation",
                        operator="return_change", similarity=0.95)
        samples.append(s)
    config = {"seed": 1, "split": {"train": 100, "validation": 0, "test": 0, "holdout": 0}}
    cfg = SplitConfig(**config["split"])
    return write_bundle([with_split(s, cfg, 1) for s in samples], [], out, "trl", "1.0.0", config)


def test_exports_load_with_datasets(bundle: Path):
    from datasets import load_dataset

    for fmt in ("openai_chat", "hf_conversational", "alpaca", "dpo"):
        ds = load_dataset("json", data_files=str(bundle / fmt / "train.jsonl"), split="train")
        assert len(ds) == 6, fmt
    ds = load_dataset("parquet", data_files=str(bundle / "parquet" / "train.parquet"), split="train")
    assert len(ds) == 6 and ds[0]["messages"][0]["role"] == "user"


def test_sft_trainer_prepares_openai_chat(bundle: Path, tmp_path: Path):
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    tok = _tiny_tokenizer()
    ds = load_dataset("json", data_files=str(bundle / "openai_chat" / "train.jsonl"), split="train")
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[],
                     max_length=128, use_cpu=True, assistant_only_loss=False)
    trainer = SFTTrainer(model=_tiny_model(len(tok)), args=args, train_dataset=ds, processing_class=tok)
    row = trainer.train_dataset[0]
    assert len(row["input_ids"]) > 5
    assert tok.convert_tokens_to_ids("<|assistant|>") in row["input_ids"] or tok.unk_token_id in row["input_ids"]


def test_dpo_trainer_prepares_dpo(bundle: Path, tmp_path: Path):
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer

    tok = _tiny_tokenizer()
    ds = load_dataset("json", data_files=str(bundle / "dpo" / "train.jsonl"), split="train")
    first = json.loads((bundle / "dpo" / "train.jsonl").read_text().splitlines()[0])
    assert first["chosen"] != first["rejected"]
    args = DPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[],
                     max_length=128, use_cpu=True)
    trainer = DPOTrainer(model=_tiny_model(len(tok)), ref_model=_tiny_model(len(tok)), args=args, train_dataset=ds,
                         processing_class=tok)
    row = trainer.train_dataset[0]
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(row), set(row)
    assert row["chosen_ids"] != row["rejected_ids"]


def test_parquet_from_worker_tables_is_byte_identical_to_row_path(tmp_path: Path):
    """The pipeline builds Arrow tables per batch in workers; the file must equal the row-by-row one."""
    from codesft.curate.synthetic import make_sample
    from codesft.bundle import ParquetSink, parquet_tables, prepare

    prepared = [prepare(with_split(make_sample(i), SplitConfig(), 1), ["parquet"], {"seed": 1}) for i in range(4500)]
    rows = [dict(p) for p in prepared]
    a = ParquetSink(tmp_path / "rows.parquet")
    for p in rows:
        if p["split"] == "train":
            a.add(p["parquet"])
    a.close()
    b = ParquetSink(tmp_path / "tables.parquet")
    for i in range(0, len(prepared), 333):  # batches that do not line up with the 2048-row groups
        tables = parquet_tables([dict(p) for p in prepared[i:i + 333]])
        if "train" in tables:
            b.add_table(tables["train"])
    b.close()
    assert (tmp_path / "rows.parquet").read_bytes() == (tmp_path / "tables.parquet").read_bytes()
