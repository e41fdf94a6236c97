"""`codesft run --preset tiny`: the whole loop end to end on a tiny random model (CI's smoke test)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import codesft
from codesft.cli import app
from codesft.config import ConfigError, parse_cli_overrides, read_yaml
from codesft.pipeline import PRESET_DIR, RunConfig, _curate_config, check_config, given, resolve_config


def test_every_shipped_run_preset_loads():
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        cfg = RunConfig.model_validate(read_yaml(path))
        assert cfg.preset == path.stem
    cfg = resolve_config(None, "tiny", {"eval": {"limit": 1}})
    assert cfg.model == "tiny:random" and cfg.eval.limit == 1 and cfg.eval.max_new_tokens == 24  # deep merge


def test_tiny_run_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--preset", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert report.is_file()
    page = report.read_text()
    for rel in re.findall(r'href="([^"]+)"', page):  # every link on the page resolves
        assert (out / rel).exists(), rel
    summary = json.loads((out / "run_summary.json").read_text())
    assert set(summary["train"]) == {"sft", "fgit"}
    assert list(summary["eval"]) == ["bundle", "humaneval+"]  # in-domain, then the retention suite
    for bench in ("bundle", "humaneval+"):
        assert set(summary["eval"][bench]) == {"base", "sft", "fgit"}
        assert len(summary["compare"][bench]["report"]["comparisons"]) == 2
    # the page opens with one verdict sentence per trained model and benchmark, before any table
    verdict = page[page.index("<h2>Verdict</h2>"):page.index("<h2>Data</h2>")]
    assert page.index("<h2>Verdict</h2>") < page.index("<table")
    for model in ("sft", "fgit"):
        for bench in ("bundle", "humaneval+"):
            line = re.search(rf"<li>{model} is (better than|worse than|the same as) base[^<]* on {re.escape(bench)}: "
                             rf"pass@1 [^<]*difference [^<]*95% CI [^<]*McNemar p = [^<]*</li>", verdict)
            assert line, (model, bench, verdict)
    assert [(v["model"], v["benchmark"]) for v in summary["verdicts"]] == [
        ("sft", "bundle"), ("fgit", "bundle"), ("sft", "humaneval+"), ("fgit", "humaneval+")]
    if not any(v["verdict"] == "better" for v in summary["verdicts"]):  # a random model beats nothing
        assert "No trained model beats base on any benchmark." in verdict
        assert "No trained model beats base on any benchmark." in result.output  # the terminal says it too
    for v in summary["verdicts"]:
        assert v["sentence"] in result.output
    drift = json.loads((Path(summary["train"]["sft"]) / "run.json").read_text())["drift"]
    assert drift["kl_mean"] >= 0 and f"<td>{drift['kl_mean']:.4g}</td>" in page  # drift in the training table
    fault_manifest = json.loads((Path(summary["fault_bundle"]) / "manifest.json").read_text())
    assert fault_manifest["parent_version"]
    assert json.loads((Path(summary["train"]["fgit"]) / "run.json").read_text())["method"] == "fgit"

    again = runner.invoke(app, ["run", "--preset", "tiny", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") >= 10  # every finished stage is reused, nothing re-run


def test_bad_run_config_stops_with_a_message(tmp_path):
    result = CliRunner().invoke(app, ["run", "--preset", "tiny", "--out", str(tmp_path), "--bogus", "1"])
    assert result.exit_code == 2 and "unknown option --bogus" in result.output


def test_every_stage_field_is_an_option(tmp_path):
    """docs/run.md and `run --help` show `--eval.limit 40`; any field of each stage's config is reachable."""
    args = ["--eval.limit", "40", "--train.learning-rate", "1e-4", "--curate.verify.timeout-s", "5",
            "--faults.k", "2", "--conditions.fgit.weighting", "bt", "--benchmarks", "humaneval,bundle",
            "--eval.ks", "1,5"]
    cfg = resolve_config(None, "tiny", parse_cli_overrides(args, RunConfig))
    assert cfg.eval.limit == 40 and cfg.eval.ks == [1, 5] and cfg.eval.max_new_tokens == 24
    assert cfg.train.learning_rate == 1e-4 and given(cfg.curate)["verify"] == {"timeout_s": 5}
    assert cfg.faults.k == 2 and given(cfg.conditions["fgit"]) == {"method": "fgit", "weighting": "bt"}
    assert cfg.benchmarks == ["humaneval", "bundle"]
    check_config(cfg)
    help_text = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--eval.FIELD" in help_text and "--eval.limit" in help_text


@pytest.mark.parametrize("args, message", [
    (["--eval.limt", "4"], "unknown option --eval.limt"),
    (["--train.model", "x"], "'train.model' is set by the run itself"),
    (["--conditions.fgit.weighting", "nope"], "conditions.fgit.weighting': Input should be 'bt'"),
    (["--faults.generator", "teacher"], "generator 'teacher' needs --teacher-url"),  # a check across fields
    (["--curate.split.train", "50"], "train + validation + test + holdout must be 100"),
    (["--curate-config", "missing.yaml"], "config file not found"),
    (["--preset", "huge"], "unknown preset 'huge'"),
])
def test_bad_stage_settings_stop_the_run_before_it_starts(tmp_path, args, message):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "tiny", "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()  # nothing ran


def test_shipped_curate_config_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: the shipped inputs are found in the package
    cfg = _curate_config(RunConfig(), tmp_path / "out")
    shipped = Path(codesft.__file__).parent / "data" / "examples"
    assert cfg.inputs and all(Path(spec.partition(":")[2]).is_relative_to(shipped) for spec in cfg.inputs)
    assert all(Path(spec.partition(":")[2]).exists() for spec in cfg.inputs)


def test_the_demo_trains_on_its_own_answers_and_judges_in_domain_skill_on_more_than_one_problem(tmp_path, monkeypatch):
    from codesft.curate.pipeline import run_curate
    from codesft.evaluate.problems import load_benchmark

    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(None, "demo", {})
    check_config(cfg)  # every stage's config builds, the slices included
    assert cfg.answers == "self" and cfg.sample.splits == ["train"] and cfg.sample.rest == "drop"
    assert cfg.benchmarks == ["bundle", "mbpp:test[:40]"] and cfg.retention == ["humaneval+[:20]"]
    assert cfg.eval.limit is None  # the slices are the documented subsets, not a limit over all of them
    assert [p.task_id for p in load_benchmark("mbpp:test[:40]").problems] == [f"Mbpp/{i}" for i in range(11, 51)]
    bundle, counts = run_curate(_curate_config(cfg, tmp_path / "out"))
    assert counts["accepted"] + counts["downgraded"] >= 60
    in_domain = load_benchmark(f"bundle:{bundle}")
    assert len(in_domain.problems) >= 3  # the bundle's own test split: more than one executable problem
    train = [json.loads(line) for line in (bundle / "samples.jsonl").read_text().splitlines()]
    sampled = [r for r in train if r["split"]["assignment"] == "train" and (r.get("code") or {}).get("tests")]
    assert len(sampled) >= 30  # the records codesft sample draws the model's answers for


def test_a_users_curate_config_reads_inputs_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_text("")
    (tmp_path / "mine.yaml").write_text("inputs: ['eval_questions:q.jsonl']\n")
    cfg = _curate_config(RunConfig(curate_config="mine.yaml"), tmp_path / "out")
    assert cfg.inputs == [f"eval_questions:{tmp_path / 'q.jsonl'}"]
    (tmp_path / "mine.yaml").write_text("inputs: ['eval_questions:missing.jsonl']\n")
    with pytest.raises(ConfigError, match="curate inputs not found: eval_questions:.*missing.jsonl"):
        _curate_config(RunConfig(curate_config="mine.yaml"), tmp_path / "out")


def test_the_run_config_holds_each_stage_as_its_typed_config(tmp_path):
    """Stage settings are the stages' own configs (typed, defaults filled) from the moment the run config loads;
    run_config.yaml keeps only what was given and reads back to the same settings."""
    from codesft.curate.config import CurateConfig
    from codesft.evaluate.config import EvalConfig
    from codesft.faults.config import FaultsConfig
    from codesft.train.config import TrainConfig

    args = ["--eval.timeout-s", "5", "--conditions.dpo.method", "dpo", "--curate.verify.timeout-s", "3"]
    cfg = resolve_config(None, "tiny", parse_cli_overrides(args, RunConfig))
    assert isinstance(cfg.curate, CurateConfig) and isinstance(cfg.faults, FaultsConfig)
    assert isinstance(cfg.eval, EvalConfig) and isinstance(cfg.eval.timeout_s, float) and cfg.eval.n == 1
    assert isinstance(cfg.train, TrainConfig) and cfg.train.max_steps == 4
    assert {n: c.method for n, c in cfg.conditions.items()} == {"sft": "sft", "fgit": "fgit", "dpo": "dpo"}
    assert cfg.curate.verify.timeout_s == 3.0 and cfg.curate.verify.memory_mb == CurateConfig().verify.memory_mb
    written = cfg.model_dump(mode="json")
    assert written["eval"] == {"max_new_tokens": 24, "limit": 3, "batch_size": 4, "timeout_s": 5.0,
                               "text_metrics": False}
    path = tmp_path / "run_config.yaml"
    path.write_text(yaml.safe_dump(written, sort_keys=False))
    assert resolve_config(path, None, {}).model_dump(mode="json") == written


def _entry(diff, lo, hi, p, problems=40):
    return {"run": "runs/x/eval/humaneval+/sft", "difference": diff, "ci95": [lo, hi], "problems": problems,
            "pass@1_baseline": 0.5, "pass@1_candidate": 0.5 + diff, "mcnemar": {"p_value": p}}


def test_verdict_sentences_on_hand_made_comparisons():
    from codesft.report.run import verdict, verdict_sentence, verdicts

    better, same, worse = _entry(0.2, 0.05, 0.35, 0.01), _entry(0.1, -0.05, 0.25, 0.2), _entry(-0.25, -0.4, -0.1, 0.003)
    assert [verdict(e, 0.05) for e in (better, same, worse)] == ["better", "same", "worse"]
    assert verdict(_entry(-0.3, -0.6, 0.0, 0.06), 0.05) == "same"  # a big loss without evidence is noise
    assert verdict_sentence("sft", "humaneval+", better, 0.05) == (
        "sft is better than base on humaneval+: pass@1 50.0% → 70.0%, difference +20.0 points "
        "(95% CI +5.0 to +35.0), McNemar p = 0.01, 40 problems.")
    assert verdict_sentence("fgit", "bundle", same, 0.05) == (
        "fgit is the same as base within noise on bundle: pass@1 50.0% → 60.0%, difference +10.0 points "
        "(95% CI -5.0 to +25.0), McNemar p = 0.2 ≥ 0.05, 40 problems.")
    assert verdict_sentence("sft", "mbpp:test", worse, 0.05).startswith(
        "sft is worse than base on mbpp:test: pass@1 50.0% → 25.0%, difference -25.0 points (95% CI -40.0 to -10.0), "
        "McNemar p = 0.003")
    info = {"significance": 0.05, "compare": {"humaneval+": {"report": {"comparisons": [worse, better]}}}}
    assert [(v["model"], v["verdict"]) for v in verdicts(info)] == [("sft", "worse"), ("sft", "better")]


def test_when_nothing_beats_base_the_verdict_opens_with_how_the_lost_problems_failed():
    from codesft.report.run import headline, verdicts

    worse = {**_entry(-0.25, -0.4, -0.1, 0.003), "lost": ["HumanEval/1", "HumanEval/4", "HumanEval/7"],
             "lost_by_kind": {"syntax_error": 2, "wrong_answer": 1}}
    same = {**_entry(0.0, -0.1, 0.1, 1.0, problems=4), "run": "runs/x/eval/bundle/fgit", "lost": [], "lost_by_kind": {}}
    info = {"significance": 0.05, "compare": {"humaneval+": {"report": {"comparisons": [worse]}},
                                              "bundle": {"report": {"comparisons": [same]}}}}
    assert headline(verdicts(info)) == [
        "No trained model beats base on any benchmark.",
        "sft lost 3 problems of humaneval+ that base solved, failing them as: syntax_error 2, wrong_answer 1."]
    nothing_lost = {"significance": 0.05, "compare": {"bundle": {"report": {"comparisons": [same]}}}}
    assert headline(verdicts(nothing_lost))[1].startswith("No trained model lost a problem")
    better = {"significance": 0.05, "compare": {"humaneval+": {"report": {"comparisons": [
        {**_entry(0.2, 0.05, 0.35, 0.01), "lost": [], "lost_by_kind": {}}, worse]}}}}
    assert headline(verdicts(better)) == []  # a model that beats base: the verdict sentences say it all


def test_a_retention_benchmark_already_evaluated_runs_once():
    from codesft.pipeline import evaluated_benchmarks

    cfg = resolve_config(None, "tiny", {"benchmarks": ["humaneval+", "bundle"]})
    assert cfg.retention == ["humaneval+"] and evaluated_benchmarks(cfg) == ["humaneval+", "bundle"]
    cfg = resolve_config(None, "tiny", {"benchmarks": ["bundle"], "retention": ["humaneval+", "mbpp:test"]})
    assert evaluated_benchmarks(cfg) == ["bundle", "humaneval+", "mbpp:test"]
    assert RunConfig().retention == ["humaneval+"]


def _fake_llama():
    """tests/sample/fake_llama_server.py's scripted answers (even seeds right, odd seeds a near miss)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fake_llama", Path(__file__).parent / "sample" / "fake_llama_server.py")
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    return fake


def test_a_run_on_the_models_own_answers_samples_instead_of_mutating(tmp_path, openai_server):
    """answers: self: the sample stage replaces faults; training reads the `+sample` version."""
    out = tmp_path / "run"
    fake = _fake_llama()
    model = openai_server(lambda body: ("ok", fake.answer(json.dumps(body["messages"]), int(body["seed"]))))
    result = CliRunner().invoke(app, [
        "run", "--preset", "tiny", "--out", str(out), "--answers", "self", "--sample.k", "4",
        "--sample.backend", "openai", "--sample.base-url", model.url, "--sample.max-retries", "0", "--retention", "[]"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "run_summary.json").read_text())
    trained_on = Path(summary["fault_bundle"])
    assert trained_on.name.endswith("+sample")
    counts = json.loads((trained_on / "manifest.json").read_text())["sample"]
    assert counts["problems"] > 0 and counts["samples"] >= 4 * counts["problems"] and counts["faults"] >= 1
    assert not (out / ".stages" / "faults.json").exists()
    fgit = json.loads((Path(summary["train"]["fgit"]) / "run.json").read_text())
    assert fgit["data"] == str(trained_on) and fgit["records"] == counts["faults"]
    page = (out / "report.html").read_text()
    assert "own answers" in page
