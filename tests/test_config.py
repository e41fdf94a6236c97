"""The shared config mechanics: YAML < CLI precedence, unknown fields rejected, typed CLI parsing, help text."""

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from codesft.config import CommandConfig, ConfigError, StageOverrides, fields_help, load_config, parse_cli_overrides


class Inner(BaseModel):
    r: int = Field(default=8, description="rank")
    enabled: bool = Field(default=False, description="on/off")


class Cfg(CommandConfig):
    model: str = Field(description="the model")
    lr: float = Field(default=1e-4, description="learning rate")
    tags: list[str] = Field(default_factory=list, description="tags")
    name: str = Field(default="x", description="a name")
    lora: Inner = Field(default_factory=Inner, description="adapter")


def test_yaml_then_cli_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\nlr: 0.5\nlora: {r: 4}\n")
    cfg = load_config(Cfg, path, parse_cli_overrides(["--lr", "1e-3", "--lora.enabled", "--tags", "[a, b]"], Cfg))
    assert (cfg.model, cfg.lr, cfg.lora.r, cfg.lora.enabled, cfg.tags) == ("m", 1e-3, 4, True, ["a", "b"])


def test_unknown_fields_and_bad_values_name_the_problem(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\nlearning_rate: 3\n")
    with pytest.raises(ConfigError, match="unknown field 'learning_rate'"):
        load_config(Cfg, path)
    with pytest.raises(ConfigError, match="unknown option --nope"):
        parse_cli_overrides(["--nope", "1"], Cfg)
    with pytest.raises(ConfigError, match="field 'lr'"):
        load_config(Cfg, None, {"model": "m", "lr": "fast"})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Cfg, tmp_path / "missing.yaml")


def test_cli_parsing_keeps_strings_and_negates_bools():
    out = parse_cli_overrides(["--name=123", "--no-lora.enabled", "--tags", "solo"], Cfg)
    assert out == {"name": "123", "lora": {"enabled": False}, "tags": ["solo"]}


def test_fields_help_lists_every_field_with_help():
    text = fields_help(Cfg)
    assert "--model (str, required): the model" in text
    assert "--lora.r (int, default 8): rank" in text


class Listy(CommandConfig):
    ks: list[int] = Field(default_factory=lambda: [1], description="ks")
    stop: list[str] | None = Field(default=None, description="stops")
    label: str | None = Field(default=None, description="a label")
    targets: dict[str, float] = Field(default_factory=dict, description="shares")


def test_list_options_take_commas_repeats_and_yaml():
    assert load_config(Listy, None, parse_cli_overrides(["--ks", "1,5"], Listy)).ks == [1, 5]
    assert load_config(Listy, None, parse_cli_overrides(["--ks", "1", "--ks", "5"], Listy)).ks == [1, 5]
    assert load_config(Listy, None, parse_cli_overrides(["--ks", "[1, 5]"], Listy)).ks == [1, 5]
    assert load_config(Listy, None, parse_cli_overrides(["--ks=2,3"], Listy)).ks == [2, 3]
    # Text items stay text; only the YAML form keeps a comma inside an item.
    assert parse_cli_overrides(["--stop", "a,1"], Listy) == {"stop": ["a", "1"]}
    assert parse_cli_overrides(["--stop", '[", "]'], Listy) == {"stop": [", "]}
    with pytest.raises(ConfigError, match=r"field 'ks\.1'"):
        load_config(Listy, None, parse_cli_overrides(["--ks", "1,x"], Listy))


def test_text_fields_keep_what_was_typed_and_free_keys_are_reachable():
    assert parse_cli_overrides(["--label", "123"], Listy) == {"label": "123"}
    assert parse_cli_overrides(["--label", "null"], Listy) == {"label": None}
    cfg = load_config(Listy, None, parse_cli_overrides(["--targets.code-review", "0.5"], Listy))
    assert cfg.targets == {"code-review": 0.5}  # a free key is kept as written, '-' and all


class Outer(CommandConfig):
    stage: Annotated[dict[str, Any], StageOverrides(Cfg, "codesft stage", owned=("model",))] = Field(
        default_factory=dict, description="stage settings")
    runs: Annotated[dict[str, dict[str, Any]], StageOverrides(Cfg, "codesft stage", owned=("model",), keyed=True)] = Field(
        default_factory=dict, description="named runs")


def test_stage_overrides_reach_every_field_of_the_stage_and_are_checked(tmp_path):
    args = ["--stage.lr", "0.5", "--stage.lora.r", "4", "--no-stage.lora.enabled", "--runs.a.tags", "x,y"]
    assert parse_cli_overrides(args, Outer) == {"stage": {"lr": 0.5, "lora": {"r": 4, "enabled": False}},
                                               "runs": {"a": {"tags": ["x", "y"]}}}
    with pytest.raises(ConfigError, match="unknown option --stage.bogus"):
        parse_cli_overrides(["--stage.bogus", "1"], Outer)
    with pytest.raises(ConfigError, match="'stage.model' is set by the run itself"):
        parse_cli_overrides(["--stage.model", "m"], Outer)
    with pytest.raises(ConfigError, match="'runs.a.model' is set by the run itself"):
        parse_cli_overrides(["--runs.a.model", "m"], Outer)
    # The same checks hold for YAML, values included, so a bad setting fails when the config loads.
    path = tmp_path / "o.yaml"
    path.write_text("stage: {lora: {bogus: 1}}\n")
    with pytest.raises(ConfigError, match=r"unknown field 'stage\.lora\.bogus' \(the fields of codesft stage"):
        load_config(Outer, path)
    with pytest.raises(ConfigError, match="field 'stage.lr'"):
        load_config(Outer, None, {"stage": {"lr": "fast"}})
    with pytest.raises(ConfigError, match="field 'runs.a'"):
        load_config(Outer, None, {"runs": {"a": 3}})
    text = fields_help(Outer)
    assert "--stage.FIELD VALUE: any field of `codesft stage`" in text and "except model" in text
    assert "--runs.NAME.FIELD VALUE" in text


def test_every_command_that_generates_declares_every_generation_setting():
    """build_backend reads every GenerationSettings field: a command config missing one fails at run time."""
    from codesft.augment.config import AugmentConfig
    from codesft.evaluate.config import EvalConfig
    from codesft.evaluate.generation import GenerationSettings
    from codesft.sample.config import SampleConfig

    # Declared by the command itself, on purpose: a teacher writes a task, a solution and tests (1024 tokens).
    own = {AugmentConfig: {"max_new_tokens"}}
    for cls in (EvalConfig, SampleConfig, AugmentConfig):
        missing = set(GenerationSettings.model_fields) - set(cls.model_fields)
        assert not missing, (cls.__name__, sorted(missing))
        for name, field in GenerationSettings.model_fields.items():
            if name not in own.get(cls, set()):
                assert cls.model_fields[name].description == field.description, (cls.__name__, name)
