#!/usr/bin/env python3
"""Run the project's nox sessions on a machine that has nothing but Python 3.11+.

    python dev.py demo                  # example project on an embedded PostgreSQL
    python dev.py tests                 # the whole Python x Django x driver matrix
    python dev.py tests -- -k context   # arguments after the session go to the session
    python dev.py lint | typecheck | e2e | bench
    python dev.py -l                    # anything starting with "-" goes to nox unchanged

The first run creates ``.nox-bootstrap/`` holding nox (and uv, which nox uses to build the
session environments quickly). Standard library only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BOOTSTRAP = ROOT / ".nox-bootstrap"
# Changing this list rebuilds the bootstrap environment on the next run.
REQUIREMENTS = ["nox>=2025.5.1", "uv>=0.6"]
_STAMP = BOOTSTRAP / "requirements.txt"
_BIN = BOOTSTRAP / ("Scripts" if os.name == "nt" else "bin")


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 -- dev.py may be started by any python
        sys.exit("dev.py needs Python 3.11 or newer.")
    _ensure_bootstrap()
    nox = [str(_BIN / "nox"), "--noxfile", str(ROOT / "noxfile.py")]
    env = {**os.environ, "PATH": os.pathsep.join([*_pyenv_bin_dirs(), os.environ.get("PATH", "")])}
    process = subprocess.Popen([*nox, *_nox_args(argv)], cwd=ROOT, env=env)
    # Ctrl-C reaches nox and its session's command as well (one process group): nox lets the
    # command stop and reports how it ended, so dev.py waits for that instead of killing nox.
    # A SIGTERM sent to dev.py is passed on (the noxfile turns it into that interrupt).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    return process.wait()


def _nox_args(argv: list[str]) -> list[str]:
    """``SESSION [--] ARGS...`` becomes ``-s SESSION -- ARGS...``; bare options pass through."""
    if not argv:
        return ["--list"]
    if argv[0].startswith("-"):
        return argv
    session, rest = argv[0], argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return ["--sessions", session, *(["--", *rest] if rest else [])]


def _ensure_bootstrap() -> None:
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if _STAMP.is_file() and _STAMP.read_text() == wanted and (_BIN / "nox").exists():
        return
    print(f"dev.py: creating {BOOTSTRAP.name}/ with {', '.join(REQUIREMENTS)}", flush=True)
    shutil.rmtree(BOOTSTRAP, ignore_errors=True)
    venv.create(BOOTSTRAP, with_pip=True)
    pip = [str(_BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    # Written last, so an interrupted bootstrap is redone.
    _STAMP.write_text(wanted)


def _pyenv_bin_dirs() -> list[str]:
    """``bin`` directories of pyenv's CPython 3.11+ builds, newest patch of each minor first.

    pyenv's shims only answer for the versions selected with ``pyenv global``/``local``; putting
    the real directories on PATH lets nox find ``python3.12`` and ``python3.13`` regardless.
    """
    root = _pyenv_root()
    if root is None:
        return []
    newest: dict[int, tuple[int, Path]] = {}
    for path in (root / "versions").glob("3.*"):
        match = re.fullmatch(r"3\.(\d+)\.(\d+)", path.name)
        if not match or not (path / "bin").is_dir():
            continue
        minor, patch = int(match[1]), int(match[2])
        if minor >= 11 and patch >= newest.get(minor, (-1, path))[0]:
            newest[minor] = (patch, path)
    return [str(path / "bin") for _, (_, path) in sorted(newest.items(), reverse=True)]


def _pyenv_root() -> Path | None:
    if pyenv := shutil.which("pyenv"):
        result = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            return Path(result.stdout.strip())
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    return root if root.is_dir() else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
