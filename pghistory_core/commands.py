"""Context for management commands: the command name and its arguments on every event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pghistory_core import config
from pghistory_core.runtime import context

_original_run_from_argv = BaseCommand.run_from_argv


def _run_from_argv(self: BaseCommand, argv: list[str]) -> None:
    name = argv[1] if len(argv) > 1 else type(self).__module__.rsplit(".", 1)[-1]
    if not config.track_commands() or name in config.ignored_commands():
        return _original_run_from_argv(self, argv)
    with context(command=name, command_args=list(argv[2:])):
        return _original_run_from_argv(self, argv)


def command_context(name: str, *args: Any) -> context:
    """A context recording a command run another way, e.g. through ``call_command``."""
    return context(command=name, command_args=[str(arg) for arg in args])


def install() -> None:
    """Wrap ``BaseCommand.run_from_argv`` (done once, from ``AppConfig.ready``)."""
    if BaseCommand.run_from_argv is not _run_from_argv:
        BaseCommand.run_from_argv = _run_from_argv  # type: ignore[method-assign]
