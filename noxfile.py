"""Development sessions; ``python dev.py SESSION`` runs them without installing anything first.

PostgreSQL comes from ``devdb.py``: ``DATABASE_URL`` when set, else an embedded server.
"""

from __future__ import annotations

import os
import shutil
import signal
from types import FrameType

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]
# Interpreters come from PATH (dev.py adds pyenv's); never fetch one from the network.
nox.options.download_python = "never"

# Sessions other than tests run on the oldest supported Python.
TOOLS_PYTHON = "3.11"
# Checkers are pinned so a new release cannot turn CI red on its own; bump them on purpose.
RUFF = "ruff==0.17.6"
MYPY = ["mypy==2.4.1", "django-stubs==6.1.2"]
DJANGO = {"5.2": "django>=5.2,<5.3", "6": "django>=6.0,<7"}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# SIGTERM (CI, a supervisor, dev.py passing one on) ends a session the way Ctrl-C does: nox
# asks the running command to stop, waits for it and reports how it ended, instead of dying
# and leaving the command running.
signal.signal(signal.SIGTERM, _interrupt)

# (python, django, driver): each supported Django on its oldest Python, with each driver.
MATRIX = [
    ("3.11", "5.2", "psycopg2"),
    ("3.11", "5.2", "psycopg"),
    ("3.12", "6", "psycopg2"),
    ("3.12", "6", "psycopg"),
]

_CHECK_DRIVER = """\
import sys, django
from django.db.backends.postgresql.psycopg_any import is_psycopg3
used = "psycopg" if is_psycopg3 else "psycopg2"
print(f"Python {sys.version.split()[0]}, Django {django.__version__}, driver {used}")
sys.exit(used != sys.argv[1])
"""


@nox.session
@nox.parametrize(
    ("python", "django", "driver"),
    [nox.param(*row, id=f"django='{row[1]}', driver='{row[2]}'") for row in MATRIX],
)
def tests(session: nox.Session, django: str, driver: str) -> None:
    """Run pytest against one Python x Django x database driver combination."""
    # Only one driver is installed: with both importable Django silently picks psycopg 3.
    # Editable ("-e") everywhere: imports resolve to the work tree, as pytest's pythonpath does
    # anyway, so no stale built copy of the packages can shadow an edit.
    session.install("-e", f".[test,{driver}]", DJANGO[django])
    session.run("python", "-c", _CHECK_DRIVER, driver)
    session.run("pytest", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def nightly(session: nox.Session) -> None:
    """The property-based and stress tests with ten times more examples (slow; not run in CI)."""
    session.install("-e", ".[test,psycopg]", DJANGO["5.2"])
    session.run("pytest", "-m", "stress", *session.posargs, env={"HYPOTHESIS_PROFILE": "nightly"})


@nox.session(python=TOOLS_PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(RUFF)
    session.run("ruff", "check", *session.posargs)
    session.run("ruff", "format", "--check", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the packages with mypy and django-stubs."""
    session.install("-e", ".[test,psycopg]", *MYPY)
    # The django-stubs plugin imports the test settings; a URL keeps devdb from starting Postgres.
    env = {"DATABASE_URL": "postgresql://localhost/typecheck"}
    session.run("python", "-m", "mypy", *session.posargs, env=env)


@nox.session(python=TOOLS_PYTHON)
def demo(session: nox.Session) -> None:
    """Run the example project: migrate, seed, print the login, serve (``python -m example_project``).

    ``python dev.py demo -- 8001`` serves on another port (``ADDR:PORT`` works too).
    """
    session.install("-e", ".[psycopg]", "pgserver")
    # Ctrl-C reaches the demo directly (same process group); after a SIGTERM sent to nox (see
    # _interrupt), nox sends one on after ``interrupt_timeout``. Either way the demo stops its
    # PostgreSQL and exits 0, which nox takes for success within ``terminate_timeout``.
    session.run(
        "python",
        "-m",
        "example_project",
        *session.posargs,
        interrupt_timeout=1.0,
        terminate_timeout=30.0,
    )


# On the newest Python the tests cover, so the fresh project gets what a newcomer gets today:
# the newest Django (6.x needs Python 3.12+).
@nox.session(python=MATRIX[-1][0])
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, check their contents, and follow the README's install section.

    The wheel goes into a new virtualenv with a ``django-admin startproject`` configured as the
    README says; the project is migrated and its admin history pages loaded (tests/package/).
    """
    session.install("-e", ".[test,psycopg]", "build[uv]", "trove-classifiers")
    session.run("pytest", "-m", "package", "tests/package", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def e2e(session: nox.Session) -> None:
    """Drive the admin in headless Chromium with Playwright.

    ``PGHISTORY_SCREENSHOTS=1 python dev.py e2e`` also retakes the README's docs/screenshots/.
    """
    session.install("-e", ".[e2e,psycopg]")
    # The system's Chromium: Playwright's own browser download is never used.
    if not (os.environ.get("PGHISTORY_E2E_CHROMIUM") or shutil.which("chromium")):
        session.warn("chromium not found on PATH; install Debian's chromium package")
    # e2e/pytest.ini, not pyproject.toml's config (that one runs tests/ with tests.settings).
    session.run("pytest", "-c", "e2e/pytest.ini", "--rootdir", ".", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def bench(session: nox.Session) -> None:
    """Compare write and read costs with django-pghistory and django-simple-history."""
    session.install("-e", ".[bench,psycopg]")
    session.run("python", "-m", "bench", *session.posargs)
