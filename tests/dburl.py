"""libpq URLs for the databases of the test run, for subprocesses (commands, the demo)."""

from typing import Any


def url_for(settings_dict: dict[str, Any], name: str | None = None) -> str:
    """A URL pointing at ``name`` (default: the settings' database) on the same server."""
    host, user, port = settings_dict["HOST"], settings_dict["USER"], settings_dict["PORT"]
    database = name or settings_dict["NAME"]
    if not host or host.startswith("/"):
        query = f"?host={host}" + (f"&port={port}" if port else "") if host else ""
        return f"postgresql://{user}@/{database}{query}"
    password = settings_dict["PASSWORD"]
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{database}"
