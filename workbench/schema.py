"""The experiment-file reference, generated from the config models (`workbench config --schema`).

Every field of `ExperimentConfig`, recursively: its path as written in YAML, its type,
default, unit and one line of meaning. Meanings come from the models themselves: a
pydantic `Field(description=...)`, else the attribute docstring under the field (the
protocol option dataclasses use those). `docs/config.md` is rendered from the same rows,
and a test keeps it in sync, so the reference cannot drift from the code.

Units follow the convention stated in `faults/spec.py`: a name ending in `_ms` (or
`ms`) is milliseconds, in `_s` seconds; fault schedule times are seconds.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from workbench.experiment.config import ExperimentConfig

_SECONDS = {"at", "duration", "every", "mean_interval", "mean_duration", "start", "stop"}
"""Fault schedule fields, in seconds (faults/spec.py's module docstring)."""
_RATIOS = {"loss": "probability", "duplicate": "probability", "reorder": "probability",
           "drift": "ratio", "max_clock_drift": "ratio", "add_fraction": "fraction",
           "rate": "ops/s per client", "time_scale": "ratio"}


@dataclass(frozen=True)
class FieldRow:
    path: str
    type: str
    default: str
    unit: str
    meaning: str


def unit_of(name: str) -> str:
    if name == "zipf_s":  # the zipf exponent s, not seconds
        return ""
    if name.endswith("_ms") or name == "ms":
        return "ms"
    if name.endswith("_s") or name in _SECONDS:
        return "s"
    return _RATIOS.get(name, "")


@cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """`name: type = default` followed by a string literal: that string, per field."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith(("pydantic", "builtins")):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in zip(body, body[1:], strict=False):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[stmt.target.id] = after.value.value
    return docs


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and (issubclass(annotation, BaseModel)
                                             or dataclasses.is_dataclass(annotation))


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(_unwrap(a) for a in typing.get_args(annotation))
    return ()


def type_text(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) if not isinstance(a, str) else a for a in typing.get_args(annotation))
    if args := _union_args(annotation):
        return " | ".join("null" if a is type(None) else type_text(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        inner = typing.get_args(annotation)
        return f"list of {type_text(inner[0])}" if inner else "list"
    if origin is dict:
        return "mapping"
    if _is_model(annotation):
        return "mapping"
    names = {bool: "bool", int: "int", float: "number", str: "text", type(None): "null"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(value: Any) -> str:
    if value is PydanticUndefined or value is dataclasses.MISSING:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_default_text(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def _fields(cls: type) -> list[tuple[str, Any, Any, str]]:
    """(YAML key, annotation, default, description) of a model or options dataclass."""
    docs = _attribute_docs(cls)
    rows = []
    if issubclass(cls, BaseModel):
        for name, info in cls.model_fields.items():
            default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
            rows.append((info.alias or name, info.annotation, default, info.description or docs.get(name, "")))
    else:
        hints = typing.get_type_hints(cls, include_extras=True)
        for field in dataclasses.fields(cls):
            default = (field.default_factory() if field.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                       else field.default)
            rows.append((field.name, hints[field.name], default, docs.get(field.name, "")))
    return rows


def _variants(annotation: Any) -> list[type] | None:
    """The models of a union of models (a tagged union like `latency`), else None."""
    args = [a for a in _union_args(_unwrap(annotation)) if a is not type(None)]
    if len(args) > 1 and all(_is_model(a) for a in args):
        return args
    return None


def _tag(model: type) -> tuple[str, str] | None:
    for name, annotation, default, _ in _fields(model):
        if typing.get_origin(_unwrap(annotation)) is Literal and len(typing.get_args(_unwrap(annotation))) == 1:
            return name, str(default)
    return None


def walk(cls: type = ExperimentConfig, prefix: str = "", _seen: dict[Any, str] | None = None) -> list[FieldRow]:
    """Rows of `cls`'s fields under `prefix`; a type met again inside itself (a mixture's
    components are latencies) is referred to by its first path instead of recursing."""
    seen = dict(_seen or {})
    rows: list[FieldRow] = []
    for key, annotation, default, doc in _fields(cls):
        path = f"{prefix}{key}"
        bare = _unwrap(annotation)
        meaning = _one_line(doc)
        variants = _variants(bare)
        if variants and repr(bare) in seen:
            rows.append(FieldRow(path, f"as {seen[repr(bare)]}", _summary_default(default), "",
                                 meaning or f"the same choices as `{seen[repr(bare)]}`"))
            continue
        if variants:
            seen[repr(bare)] = path
            tags = [_tag(v) for v in variants]
            tag_key = tags[0][0] if tags[0] else "kind"
            choices = ", ".join(t[1] for t in tags if t)
            rows.append(FieldRow(path, f"one of {tag_key}: {choices}", _summary_default(default), unit_of(key),
                                 meaning or f"a mapping chosen by its `{tag_key}` key"))
            chosen = getattr(default, tag_key, None)
            rows.append(FieldRow(f"{path}.{tag_key}", " | ".join(t[1] for t in tags if t),
                                 "required" if chosen is None else str(chosen), "",
                                 f"chooses the kind of {key}; the keys that go with each kind follow"))
            for variant, tag in zip(variants, tags, strict=True):
                label = f"{path} ({tag[0]}: {tag[1]})." if tag else f"{path}."
                rows.extend(r for r in walk(variant, label, seen) if not r.path.endswith(f".{tag_key}"))
            continue
        inner = [a for a in _union_args(bare) if a is not type(None)]
        model = bare if _is_model(bare) else (inner[0] if len(inner) == 1 and _is_model(inner[0]) else None)
        items = typing.get_args(bare)[0] if typing.get_origin(bare) is list else None
        if model is not None:
            rows.append(FieldRow(path, "mapping" + (" | null" if inner else ""), _summary_default(default),
                                 "", meaning or _section_doc(model)))
            rows.extend(walk(model, f"{path}.", seen))
        elif items is not None and _is_model(_unwrap(items)):
            item = _unwrap(items)
            rows.append(FieldRow(path, "list of mappings", _default_text(default), "",
                                 meaning or _one_line(item.__doc__).split(". ")[0]))
            rows.extend(walk(item, f"{path}[].", seen))
        else:
            rows.append(FieldRow(path, type_text(bare), _default_text(default), unit_of(key), meaning))
    return rows


def _section_doc(model: type) -> str:
    doc = _one_line(model.__doc__)
    if not doc or doc.startswith(f"{model.__name__}("):  # a dataclass's generated signature
        return f"options of the {model.__name__.removesuffix('Options').lower()} protocol"
    return doc.split(". ")[0].rstrip(".")


def _summary_default(value: Any) -> str:
    if dataclasses.is_dataclass(value):
        return "(section)"
    if isinstance(value, BaseModel):
        dumped = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if len(str(dumped)) < 60 and not any(isinstance(v, dict | list) for v in dumped.values()):
            return ", ".join(f"{k}: {v}" for k, v in dumped.items())
        return "(section)"
    return _default_text(value)


def render_text(rows: list[FieldRow] | None = None) -> str:
    """For a terminal: one block per field."""
    rows = rows if rows is not None else walk()
    lines = ["Experiment file fields (YAML). Units: ms = milliseconds, s = seconds.", ""]
    for row in rows:
        unit = f" [{row.unit}]" if row.unit else ""
        lines.append(f"{row.path}{unit}: {row.type} = {row.default}")
        if row.meaning:
            lines.append(f"    {row.meaning}")
    return "\n".join(lines)


def render_markdown(rows: list[FieldRow] | None = None) -> str:
    rows = rows if rows is not None else walk()

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Experiment file reference",
        "",
        "Generated by `workbench config --schema --markdown` from the config models "
        "(`workbench/schema.py`); a test keeps this file in sync. Do not edit by hand.",
        "",
        "A path like `faults.partitions[].at` is the key `at` of each item of the list "
        "`faults.partitions`; `network.latency (dist: constant).ms` is the key `ms` when "
        "`dist: constant` is chosen. `--set` takes the same paths, with list indices "
        "(`faults.partitions.0.at=5`).",
        "",
        "| field | type | default | unit | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{cell(r.path)}` | {cell(r.type)} | {cell(r.default)} | {r.unit} | {cell(r.meaning)} |"
              for r in rows]
    return "\n".join(lines) + "\n"
