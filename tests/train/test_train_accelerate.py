"""`accelerate launch` with 2 CPU processes (DDP, gloo): about 30 s per method, so it runs by default."""

import json
import subprocess
import sys
import textwrap

import pytest


# DPO goes through TRL's DPOTrainer (reference model, chosen/rejected batches), FGit through FGitTrainer: both
# must survive DDP.
@pytest.mark.parametrize("method", ["fgit", "dpo"])
def test_training_under_accelerate_launch_ddp_on_cpu(tiny_model_dir, pairs_jsonl, tmp_path, method):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        from codesft.train import train
        train(dict(model={str(tiny_model_dir)!r}, data={str(pairs_jsonl)!r}, output_dir={str(tmp_path / 'o')!r},
                   method={method!r}, max_steps=3, batch_size=2, learning_rate=1e-3, bf16=False, tensorboard=False,
                   max_length=256))
    """))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["global_step"] == 3
    logs = [json.loads(line) for line in (tmp_path / "o" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs if "loss" in r] == [1, 2, 3]  # logged once, by the main process
