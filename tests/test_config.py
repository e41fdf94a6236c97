"""The shared config mechanics: YAML < CLI precedence, unknown fields rejected, typed CLI parsing, help text."""

import pytest
from pydantic import BaseModel, Field

from codesft.config import CommandConfig, ConfigError, fields_help, load_config, parse_cli_overrides


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
