"""Build hook of the sdist: hatchling adds the repository's ``.gitignore`` to every sdist.

The sdist carries what builds, installs and documents the packages (``only-include`` in
``pyproject.toml``); a file that only configures a git checkout does not belong in it.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_DEV_ONLY = {".gitignore"}


class SdistWithoutDevFiles(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        forced = build_data["force_include"]
        for source, target in list(forced.items()):
            if target in _DEV_ONLY:
                del forced[source]
