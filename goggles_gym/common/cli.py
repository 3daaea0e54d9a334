"""Dataclass-driven command lines: every option is declared once, as a dataclass field with help."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def arg(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
        choices: Sequence[str] | None = None, flag: bool = True) -> Any:
    """A dataclass field carrying its command-line help (``flag=False`` keeps it off the CLI)."""
    meta = {"help": help, "choices": choices, "flag": flag}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--name`` for each field of ``cls``; defaults stay None so only given flags override."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("flag", True):
            continue
        name = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else "(preset)"
        helptext = f"{f.metadata.get('help', '')} [default: {default}]"
        if hint is bool or bool in typing.get_args(hint):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
            continue
        base = _scalar(hint)
        parser.add_argument(name, type=base, default=None, choices=f.metadata.get("choices"), help=helptext)


def _scalar(hint: Any) -> Callable[[str], Any]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is not None and args:
        hint = args[0]
    return hint if hint in (int, float, str) else str


def parse_overrides(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (VALUE read as YAML, so 1e-4, true, [1, 2] work)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} override {item!r} must look like KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def build_config(cls: type[T], preset: dict[str, Any], flags: argparse.Namespace) -> T:
    """Config = dataclass defaults, then the preset's values, then the flags actually given."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(preset) - names)
    if unknown:
        raise ValueError(f"preset has unknown key(s) {unknown}; allowed: {sorted(names)}")
    values = dict(preset)
    for name in names:
        given = getattr(flags, name, None)
        if given is not None:
            values[name] = given
    return cls(**values)


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Run ``main``; turn a library error into one clear line on stderr and exit status 2."""
    try:
        main(argv)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
