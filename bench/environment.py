"""What the numbers were measured on: versions, Postgres settings, machine."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import django

from bench.database import scalar

_DISTRIBUTIONS = {
    "pghistory-admin": "pghistory-admin",
    "django-pghistory": "django-pghistory",
    "django-simple-history": "django-simple-history",
    "django-pgtrigger": "django-pgtrigger",
    "psycopg": "psycopg",
    "psycopg2": "psycopg2-binary",
}
_PG_SETTINGS = (
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "work_mem",
    "effective_cache_size",
    "max_wal_size",
    "jit",
    "max_parallel_workers_per_gather",
    "random_page_cost",
)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    """The checked-out commit of the repository (read from ``.git``, no subprocess)."""
    git = Path(__file__).resolve().parent.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0][:12]
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other processes share the machine)."""
    return [round(x, 2) for x in os.getloadavg()]


def collect() -> dict[str, Any]:
    """Versions, Postgres settings and machine facts, as JSON-ready data."""
    from django.db import connection
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "django": django.__version__,
        "postgres": scalar("SHOW server_version"),
        "driver": "psycopg" if is_psycopg3 else "psycopg2",
    }
    for name, distribution in _DISTRIBUTIONS.items():
        if version := _version(distribution):
            versions[name] = version
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.settings_dict["NAME"],
        "commit": _git_commit(),
        "versions": versions,
        "postgres_settings": {name: scalar(f"SHOW {name}") for name in _PG_SETTINGS},
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "ram_gib": _ram_gib(),
            "platform": platform.platform(),
            # Other processes share the machine: a load above ~0.5 at the start means noise.
            "load_average_at_start": load_average(),
        },
    }
