"""Dataclass-driven command lines: every option is declared once, as a dataclass field with help.

A bad command line is one ``error: ...`` line naming the flag and the fix, exit status 2 (see
:class:`ArgumentParser` and :func:`run_cli`); the config dataclasses check their own values
(:func:`check_at_least`), so the library raises the same ``ValueError``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

T = TypeVar("T")


class CliError(ValueError):
    """A bad command line (an unknown flag, an invalid choice or number): one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`CliError` (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")


def program() -> str:
    """How this program is called: ``goggles-gym`` under the console script, else ``python -m goggles_gym``."""
    return "goggles-gym" if Path(sys.argv[0]).name == "goggles-gym" else "python -m goggles_gym"


def flag(name: str) -> str:
    """The command-line flag of a config field: ``n_envs`` -> ``--n-envs``."""
    return "--" + name.replace("_", "-")


def arg(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
        choices: Sequence[str] | None = None, flag: bool = True, required: bool = False) -> Any:
    """A dataclass field carrying its command-line help (``flag=False`` keeps it off the CLI).

    ``required=True`` marks an option that must be given (its default, usually ``""``, is only a
    placeholder the config refuses): ``--help`` shows ``(required)`` instead of a default. The
    check itself stays the config's, so a preset or a library caller can still supply the value.
    """
    meta = {"help": help, "choices": choices, "flag": flag, "required": required}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, defaults: Mapping[str, Any] | None = None,
                       preset: str | None = None) -> None:
    """Add ``--name`` for each field of ``cls``; defaults stay None so only given flags override.

    The help shows the value that will be used: ``defaults`` (a preset's values, named ``preset``)
    over the dataclass defaults, e.g. ``[default: 32 (preset quick)]``.
    """
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("flag", True):
            continue
        hint = hints[f.name]
        helptext = _with_default(f, defaults, preset).replace("%", "%%")
        if hint is bool or bool in typing.get_args(hint):
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=helptext)
            continue
        many = typing.get_origin(hint) is list  # list[str]: one or more values after the flag
        parser.add_argument(flag(f.name), type=_scalar(hint), default=None, choices=f.metadata.get("choices"),
                            nargs="+" if many else None, help=helptext)


def _with_default(f: dataclasses.Field, defaults: Mapping[str, Any], preset: str | None) -> str:
    """A field's help with the value that will be used: ``[default: 32 (preset quick)]``; ``(required)``
    for an option that must be given; ``[default: none]`` for an empty (``""`` / None: off) default.
    A help text that already says its default (``[default: on for vr-goggles]``) or what its empty
    value means (``empty: ...``) gets no second one."""
    text = f.metadata.get("help", "")
    if f.metadata.get("required") and not defaults.get(f.name):
        return f"{text} (required)".strip()
    if f.name in defaults:
        value = defaults[f.name]
    elif f.default is not dataclasses.MISSING:
        value = f.default
    else:
        return f"{text} [default: (preset)]".strip()
    empty = value is None or value == "" or value == []
    if f.name not in defaults and empty and ("[default:" in text or "empty:" in text):
        return text
    shown = "none" if empty else value
    if f.name in defaults and preset:
        shown = f"{shown} (preset {preset})"
    return f"{text} [default: {shown}]".strip()


def whole_number(text: str) -> int:
    """argparse type: an integer, with a message that says so."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def number(text: str) -> float:
    """argparse type: a float, with a message that says so."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (e.g. 0.5 or 2e-4), got {text!r}") from None


def _scalar(hint: Any) -> Callable[[str], Any]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is not None and args:
        hint = args[0]
    return {int: whole_number, float: number}.get(hint, str)


def _help_of(config: Any, name: str) -> str:
    for f in dataclasses.fields(config):
        if f.name == name:
            return f.metadata.get("help", "").split(";")[0].split(" [default")[0]
    return ""


def check_at_least(config: Any, minimum: int, *names: str) -> None:
    """Raise ``ValueError`` naming the flag if a whole-number field of ``config`` is below ``minimum``."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{flag(name)} {value!r}: expected a whole number >= {minimum}")
        if value < minimum:
            hint = _help_of(config, name)
            raise ValueError(f"{flag(name)} {value}: must be at least {minimum}" + (f" ({hint})" if hint else ""))


def parse_overrides(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (VALUE read as YAML, so 1e-4, true, [1, 2] work)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} override {item!r} must look like KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{what} {item}: the value is not valid YAML; quote it or write a number, "
                             "true/false or [a, b]") from None
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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Run ``main``; turn a bad flag or a library error into one ``error:`` line on stderr and exit status 2."""
    try:
        main(argv)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0
