"""One typed config per command: pydantic models, loaded from YAML and overridden from the CLI.

Every command's config class lives next to the command (curate/config.py, train/config.py, ...);
this module holds the shared mechanics:

- `load_config(Cls, yaml_path, overrides)` -> a validated instance; unknown keys are errors
  (configs forbid extras), so a typo never silently falls back to a default.
- `parse_cli_overrides(args, Cls)` turns `--field value`, `--field=value`, `--flag/--no-flag`
  and dotted nested names (`--lora.r 16`) into an override dict, checked against the model.
  List fields take `--ks 1,5`, `--ks 1 --ks 5` or YAML `--ks '[1, 5]'`.
- `StageOverrides`: marks a field as partial settings of another command's config
  (`codesft run --eval.limit 40`), so those keys are checked against that config too.
- `fields_help(Cls)` renders every field with its type, default and help text for `--help`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator

T = TypeVar("T", bound=BaseModel)


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field and the problem."""


class _FieldProblem(ValueError):
    """Raised inside validation with a message that already names the field."""


@dataclass(frozen=True)
class StageOverrides:
    """Metadata for a field holding settings of another command's config: the config itself, a dict of them
    (`keyed`), or a plain dict (`Annotated[EvalConfig, StageOverrides(EvalConfig, ...)]`).

    The keys are checked against `target` when the config loads and when the CLI parses `--field.key value`,
    so `codesft run --eval.limt 4` fails at once instead of after an hour of training. `owned` are the
    target's fields the enclosing command sets itself (they are rejected, not silently replaced);
    `keyed` means one more level of free names in between (`conditions: {sft: {method: sft}}`).
    """

    target: type[BaseModel]
    command: str  # where the target's fields are documented, e.g. "codesft eval run"
    owned: tuple[str, ...] = ()
    keyed: bool = False


class CommandConfig(BaseModel):
    """Base for command configs: unknown keys are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Before the field's own validation: a stage field may be typed as the stage's config, and the checks
    # below name the option (`eval.limt`) and say which fields the enclosing command sets itself.
    @field_validator("*", mode="before")
    @classmethod
    def _check_stage_overrides(cls, value: Any, info: Any) -> Any:
        marker = stage_overrides(cls.model_fields[info.field_name])
        if marker is not None and isinstance(value, dict):
            check_stage_overrides(value, marker, info.field_name)
        return value


def stage_overrides(field: Any) -> StageOverrides | None:
    return next((m for m in field.metadata if isinstance(m, StageOverrides)), None)


def check_stage_overrides(value: dict[str, Any], marker: StageOverrides, name: str) -> None:
    """Every key a field of `marker.target` that the command does not own, and every value valid for its field."""
    if marker.keyed:
        for key, inner in value.items():
            if not isinstance(inner, dict):
                continue  # not a mapping (or already a config object): the field's own validation names it
            check_stage_overrides(inner, StageOverrides(marker.target, marker.command, marker.owned), f"{name}.{key}")
        return
    for key in value:
        if key in marker.owned:
            raise _FieldProblem(f"'{name}.{key}' is set by the run itself; it cannot be overridden")
    _check_fields(value, marker.target, name, marker.command)


def _check_fields(value: dict[str, Any], model: type[BaseModel], name: str, command: str) -> None:
    for key, item in value.items():
        field = model.model_fields.get(key)
        if field is None:
            raise _FieldProblem(f"unknown field '{name}.{key}' (the fields of {command}: see its --help)")
        nested = _unwrap_model(field.annotation)
        if nested is not None and isinstance(item, dict):
            _check_fields(item, nested, f"{name}.{key}", command)
            continue
        checked = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        try:
            TypeAdapter(checked).validate_python(item)
        except ValidationError as exc:
            reason = "; ".join(dict.fromkeys(e["msg"] for e in exc.errors()))
            raise _FieldProblem(f"field '{name}.{key}': {reason}") from None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`; mappings merge key by key, everything else (lists too) is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
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
        elif isinstance(err.get("ctx", {}).get("error"), _FieldProblem):
            lines.append(f"{origin}: {err['ctx']['error']}")  # it names the field itself
        else:
            lines.append(f"{origin}: field '{loc}': {err['msg']}")
    return "\n".join(lines)


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> T:
    """base (e.g. a preset) < YAML file < CLI overrides."""
    data: dict[str, Any] = dict(base or {})
    origin = "config"
    if path is not None:
        data = deep_merge(data, read_yaml(path))
        origin = str(path)
    if overrides:
        data = deep_merge(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _dict_value_type(annotation: Any) -> Any:
    """`dict[str, V]` (optionally `| None`) -> V; anything else -> None."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is dict:
            args = get_args(candidate)
            return args[1] if len(args) == 2 else Any
    return None


def _field_path(cls: type[BaseModel], parts: list[str]) -> tuple[list[str], Any]:
    """Walk `--a.b.c` through models, stage overrides and free-keyed dicts -> (dict keys, leaf annotation).

    Field names take `-` for `_`; free keys (a condition's or a bucket's name) are kept as written."""
    keys: list[str] = []
    annotation: Any = cls
    model: Any = cls
    i = 0
    while i < len(parts):
        if model is None:
            value_type = _dict_value_type(annotation)
            if value_type is None:
                raise ConfigError(f"unknown option --{'.'.join(parts)}")
            keys.append(parts[i])  # a free key
            annotation, model = value_type, _unwrap_model(value_type)
            i += 1
            continue
        name = parts[i].replace("-", "_")
        field = model.model_fields.get(name)
        if field is None:
            raise ConfigError(f"unknown option --{'.'.join(parts)}")
        keys.append(name)
        annotation, model = field.annotation, _unwrap_model(field.annotation)
        marker = stage_overrides(field)
        i += 1
        if marker is not None:
            if marker.keyed and i < len(parts):
                keys.append(parts[i])
                i += 1
            if i < len(parts) and parts[i].replace("-", "_") in marker.owned:
                raise ConfigError(f"--{'.'.join(parts)}: '{'.'.join(keys)}.{parts[i].replace('-', '_')}' is set "
                                  "by the run itself; it cannot be overridden")
            model = marker.target
    return keys, annotation


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or (get_origin(annotation) is not None and bool in get_args(annotation) and len(
        [a for a in get_args(annotation) if a is not type(None)]) == 1)


def _list_item_type(annotation: Any) -> Any:
    """`list[X]` / `tuple[X, ...]` (optionally `| None`) -> X; anything else -> None."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) in (list, tuple):
            args = get_args(candidate)
            return args[0] if args else Any
    return None


def _takes_text(annotation: Any) -> bool:
    """A field that only takes text (str, Literal of strings, optionally None): keep `--name 123` a string."""
    options = [a for a in (get_args(annotation) if get_origin(annotation) is not Literal else (annotation,))
               if a is not type(None)] or [annotation]
    return all(a is str or (get_origin(a) is Literal and all(isinstance(v, str) for v in get_args(a)))
               for a in options)


def _parse_value(raw: str, annotation: Any) -> Any:
    """One CLI value, YAML-typed (`1e-4`, `true`, `null`), but text fields keep exactly what was typed."""
    if _takes_text(annotation) and raw.strip() not in ("null", "~"):
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if value is None and raw.strip() not in ("null", "~", ""):
        return raw
    if isinstance(value, str) and (annotation is float or float in get_args(annotation)):
        try:
            return float(value)  # YAML 1.1 reads `1e-4` (no dot) as text
        except ValueError:
            pass
    return value


def _parse_list(raw: str, item: Any) -> Any:
    """`a,b` or `[a, b]` (YAML) or `a`; a YAML list keeps commas inside items (`--stop '[", "]'`)."""
    if raw.lstrip().startswith("["):
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not a YAML list: {raw!r} ({exc})") from None
        return value
    if raw.strip() in ("null", "~"):
        return None
    return [_parse_value(part.strip(), item) for part in raw.split(",")]


def _set_path(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    leaf = keys[-1]
    if leaf in target and isinstance(target[leaf], list) and isinstance(value, list):
        target[leaf] = target[leaf] + value  # a repeated list option adds to it: --ks 1 --ks 5
    else:
        target[leaf] = value


def _resolve_option(name: str, eq: bool, cls: type[BaseModel]) -> tuple[list[str], Any, bool]:
    """`lora.r` -> (keys, annotation, negate); `no-lora.enabled` is the negated flag unless a field has that name."""
    if name.startswith("no-") or name.startswith("no_"):
        try:
            return (*_field_path(cls, name.split(".")), False)
        except ConfigError:
            if eq:
                raise
            return (*_field_path(cls, name[3:].split(".")), True)
    return (*_field_path(cls, name.split(".")), False)


def parse_cli_overrides(args: list[str], cls: type[BaseModel]) -> dict[str, Any]:
    """Parse extra CLI args against the fields of `cls`. Values are YAML-parsed (`--lr 1e-4`); lists take
    `--ks 1,5`, a repeated `--ks 1 --ks 5` or YAML `--ks '[1, 5]'`."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument '{arg}' (options look like --field value)")
        name, eq, inline = arg[2:].partition("=")
        keys, annotation, negate = _resolve_option(name, bool(eq), cls)
        if _is_bool(annotation) and not eq and (i + 1 >= len(args) or args[i + 1].startswith("--")):
            _set_path(out, keys, not negate)
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
        item = _list_item_type(annotation)
        _set_path(out, keys, _parse_list(raw, item) if item is not None else _parse_value(raw, annotation))
    return out


def _list_example(cls: type[BaseModel]) -> str | None:
    for name, field in cls.model_fields.items():
        if _list_item_type(field.annotation) is not None:
            opt = name.replace("_", "-")
            # YAML with quoted items: `[a, b]` would be read as a style tag by typer's rich help.
            return f"--{opt} a,b  or  --{opt} a --{opt} b  or  --{opt} '[\"a\", \"b\"]'"
    return None


def fields_help(cls: type[BaseModel], prefix: str = "") -> str:
    """One line per field (nested models flattened with dots): --name TYPE [default] help."""
    lines = []
    for name, field in cls.model_fields.items():
        dotted = f"{prefix}{name}"
        opt = dotted.replace("_", "-")
        marker = stage_overrides(field)
        if marker is not None:
            key = "NAME.FIELD" if marker.keyed else "FIELD"
            owned = f", except {', '.join(marker.owned)} (set by the run)" if marker.owned else ""
            lines.append(f"  --{opt}.{key} VALUE: any field of `{marker.command}` (its --help lists them){owned}. "
                         f"{field.description or ''}")
            continue
        nested = _unwrap_model(field.annotation)
        if nested is not None:
            lines.append(fields_help(nested, prefix=f"{dotted}."))
            continue
        ann = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        shown = "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
        lines.append(f"  --{opt} ({ann}, {shown}): {field.description or ''}")
    example = _list_example(cls) if not prefix else None
    if example:
        lines.append(f"  Lists: {example}.")
    return "\n".join(lines)
