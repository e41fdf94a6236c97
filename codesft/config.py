"""One typed config per command: pydantic models, loaded from YAML and overridden from the CLI.

Every command's config class lives next to the command (curate/config.py, train/config.py, ...);
this module holds the shared mechanics:

- `load_config(Cls, yaml_path, overrides)` -> a validated instance; unknown keys are errors
  (configs forbid extras), so a typo never silently falls back to a default.
- `parse_cli_overrides(args, Cls)` turns `--field value`, `--field=value`, `--flag/--no-flag`
  and dotted nested names (`--lora.r 16`) into an override dict, checked against the model.
- `fields_help(Cls)` renders every field with its type, default and help text for `--help`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field and the problem."""


class CommandConfig(BaseModel):
    """Base for command configs: unknown keys are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of field: value")
    return data


def format_validation_error(exc: ValidationError, origin: str = "config") -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"{origin}: unknown field '{loc}'")
        else:
            lines.append(f"{origin}: field '{loc}': {err['msg']}")
    return "\n".join(lines)


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> T:
    """base (e.g. a preset) < YAML file < CLI overrides."""
    data: dict[str, Any] = dict(base or {})
    origin = "config"
    if path is not None:
        data = _deep_merge(data, read_yaml(path))
        origin = str(path)
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def _field_annotation(cls: type[BaseModel], dotted: str) -> Any:
    model: Any = cls
    annotation: Any = None
    for part in dotted.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            raise ConfigError(f"unknown option --{dotted.replace('_', '-')}")
        annotation = model.model_fields[part].annotation
        model = _unwrap_model(annotation)
    return annotation


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or (get_origin(annotation) is not None and bool in get_args(annotation) and len(
        [a for a in get_args(annotation) if a is not type(None)]) == 1)


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple):
        return True
    return any(get_origin(a) in (list, tuple) for a in get_args(annotation))


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    leaf = parts[-1]
    if leaf in target and isinstance(target[leaf], list) and isinstance(value, list):
        target[leaf] = target[leaf] + value
    else:
        target[leaf] = value


def parse_cli_overrides(args: list[str], cls: type[BaseModel]) -> dict[str, Any]:
    """Parse extra CLI args against the fields of `cls`. Values are YAML-parsed (`--lr 1e-4`, `--tags [a,b]`)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument '{arg}' (options look like --field value)")
        name, eq, inline = arg[2:].partition("=")
        negate = False
        dotted = name.replace("-", "_")
        if dotted.startswith("no_") and not eq:
            try:
                _field_annotation(cls, dotted)
            except ConfigError:
                dotted, negate = dotted[3:], True
        annotation = _field_annotation(cls, dotted)
        if _is_bool(annotation) and not eq and (i + 1 >= len(args) or args[i + 1].startswith("--")):
            _set_dotted(out, dotted, not negate)
            i += 1
            continue
        if eq:
            raw = inline
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"option --{name} needs a value")
            raw = args[i + 1]
            i += 2
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if value is None and raw.strip() not in ("null", "~", ""):
            value = raw
        if isinstance(value, (int, float, bool)) and not _is_bool(annotation) and annotation is str:
            value = raw
        if _is_list(annotation) and not isinstance(value, list):
            value = [value]
        _set_dotted(out, dotted, value)
    return out


def fields_help(cls: type[BaseModel], prefix: str = "") -> str:
    """One line per field (nested models flattened with dots): --name TYPE [default] help."""
    lines = []
    for name, field in cls.model_fields.items():
        dotted = f"{prefix}{name}"
        nested = _unwrap_model(field.annotation)
        if nested is not None:
            lines.append(fields_help(nested, prefix=f"{dotted}."))
            continue
        ann = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        shown = "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
        lines.append(f"  --{dotted.replace('_', '-')} ({ann}, {shown}): {field.description or ''}")
    return "\n".join(lines)
