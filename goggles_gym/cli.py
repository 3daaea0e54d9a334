"""``goggles-gym COMMAND ...`` (or ``python -m goggles_gym COMMAND ...``): the one command line.

Every command is one line of :data:`COMMANDS`: its words, the ``module:function`` that takes the
rest of the command line (a ``*_main(argv)`` raising ``ValueError`` on a bad value), and a line
of help. A group word alone (``train``) runs its default (:data:`DEFAULTS`). Modules are imported
only when their command runs, so ``--help`` is quick. ``python -m goggles_gym.<cmd>`` keeps working.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from goggles_gym.common.cli import CliError, one_line, program, run_cli

#: command words -> (``module:function``, one line of help). Adding a command is one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "train policy": ("goggles_gym.train:policy_main",
                     "train a ChairNav policy with Stable-Baselines3 (PPO, A2C, DQN), or distil one (--teacher)"),
    "train translator": ("goggles_gym.train:translator_main",
                         "train a real->sim translator: CycleGAN, VR-Goggles, CUT, FastCUT or the RCAN canonicalizer"),
    "collect": ("goggles_gym.collect:collect_main", "save sim or real frames as a collection (env, video or camera)"),
    "evaluate": ("goggles_gym.evaluate:evaluate_main",
                 "No-Goggles vs CycleGAN vs VR-Goggles in closed loop, with a report"),
    "translate": ("goggles_gym.translate:translate_main", "run a translator over frames, a video or a camera"),
    "export": ("goggles_gym.export:export_main", "save a translator as ONNX beside it, checked against PyTorch"),
    "pipeline": ("goggles_gym.pipeline.cli:pipeline_main", "the whole study in one command, resumable stage by stage"),
    "report": ("goggles_gym.report.cli:report_main",
               "rebuild report.html of a finished report folder (no episodes run), optionally a screenshot"),
}
#: A group word given alone (or followed by options) runs this command.
DEFAULTS: dict[str, str] = {"train": "train policy"}


def _function(target: str) -> Callable[[Sequence[str] | None], None]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("goggles-gym")
    except PackageNotFoundError:  # a source tree that is not installed
        import goggles_gym

        return goggles_gym.__version__


def help_text(group: str = "") -> str:
    """The list of commands (those under ``group``, e.g. ``train``), with how to get a command's options."""
    prog = f"{program()} {group}".strip()
    names = [n for n in COMMANDS if not group or n.split()[0] == group]
    width = max(len(n) for n in names) - (len(group) + 1 if group else 0)
    lines = [f"usage: {prog} COMMAND [options]", ""]
    lines.append("commands:" if not group else f"commands of {group} ({group} alone: {DEFAULTS.get(group, '')}):")
    for n in names:
        shown = n[len(group):].strip() if group else n
        lines.append(f"  {shown:{width}s}  {COMMANDS[n][1]}")
    lines += ["", f"`{prog} COMMAND --help` lists a command's options (with the defaults it will use)."]
    if not group:
        lines += [f"`{program()} --version` prints the version; `python -m goggles_gym.<command>` works too."]
    return "\n".join(lines)


def _resolve(argv: list[str]) -> tuple[str | None, list[str]]:
    """The command ``argv`` starts with (longest match first, then a group's default) and the rest."""
    for n in sorted(COMMANDS, key=lambda n: -len(n.split())):
        words = n.split()
        if argv[: len(words)] == words:
            return n, argv[len(words):]
    if argv and argv[0] in DEFAULTS and (len(argv) == 1 or argv[1].startswith("-")):
        return DEFAULTS[argv[0]], argv[1:]
    return None, argv


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; print the command list for ``--help``; exit status 2 on a bad command.
    Output piped into a reader that stops early (``goggles-gym --help | head``) ends quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away: no traceback (Python's docs' recipe for SIGPIPE)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"goggles-gym {_version()}")
        return 0
    groups = {n.split()[0] for n in COMMANDS if len(n.split()) > 1}
    if argv[0] in groups and len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(help_text(argv[0]))
        return 0
    command, rest = _resolve(argv)
    if command is None:
        known = ", ".join(COMMANDS)
        where = f"{argv[0]} {argv[1]}" if argv[0] in groups and len(argv) > 1 else argv[0]
        err = CliError(f"unknown command {where!r}; use one of: {known} (see {program()} --help)")
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    return run_cli(_function(COMMANDS[command][0]), rest)


if __name__ == "__main__":
    sys.exit(main())
