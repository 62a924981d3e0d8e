"""Context for management commands: the command name and its arguments on every event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pghistory_core import config, secrets
from pghistory_core.runtime import context

_original_run_from_argv = BaseCommand.run_from_argv


def _run_from_argv(self: BaseCommand, argv: list[str]) -> None:
    name = argv[1] if len(argv) > 1 else type(self).__module__.rsplit(".", 1)[-1]
    if not config.track_commands() or name in config.ignored_commands():
        return _original_run_from_argv(self, argv)
    with context(command=name, command_args=_masked_args(self, argv)):
        return _original_run_from_argv(self, argv)


def _masked_args(command: BaseCommand, argv: list[str]) -> list[str]:
    """The arguments, secret option values masked; the command's parser tells which options
    take a value and the short aliases of secret ones (``-p`` for ``--password``)."""
    secret_options: set[str] = set()
    flags: set[str] = set()
    try:
        parser = command.create_parser(argv[0], argv[1] if len(argv) > 1 else "")
    except Exception:
        parser = None
    for action in parser._actions if parser is not None else ():
        if action.nargs == 0:
            flags.update(action.option_strings)
        elif action.option_strings and secrets.is_secret_name(action.dest):
            secret_options.update(action.option_strings)
    return secrets.mask_args(argv[2:], secret_options, flags)


def command_context(name: str, *args: Any) -> context:
    """A context recording a command run another way, e.g. through ``call_command``."""
    return context(command=name, command_args=secrets.mask_args([str(arg) for arg in args]))


def install() -> None:
    """Wrap ``BaseCommand.run_from_argv`` (done once, from ``AppConfig.ready``)."""
    if BaseCommand.run_from_argv is not _run_from_argv:
        BaseCommand.run_from_argv = _run_from_argv  # type: ignore[method-assign]
