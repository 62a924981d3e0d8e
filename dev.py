#!/usr/bin/env python3
"""Run the project's nox sessions on a machine that has nothing but Python 3.11+.

    python dev.py demo                  # example project on an embedded PostgreSQL
    python dev.py tests                 # the whole Python x Django x driver matrix
    python dev.py tests -- -k context   # arguments after the session go to the session
    python dev.py lint | typecheck | e2e | bench
    python dev.py -l                    # anything starting with "-" goes to nox unchanged

The first run creates ``.nox-bootstrap/`` holding nox (and uv, which nox uses to build the
session environments quickly). Standard library only.

``tests`` runs its matrix sessions ``PGHISTORY_TEST_JOBS`` at a time (default 2), each on an
embedded server of its own, and prints each session's output when it ends. The sessions mostly
wait (commits, sockets, subprocesses), so two at a time take about half as long on two cores.
With ``DATABASE_URL`` set they run one after another: sessions sharing a server would share its
test database and its roles.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
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
    if argv[:1] == ["tests"] and (jobs := _test_jobs(env)) > 1:
        rest = argv[1:]
        return _run_tests_in_parallel(nox, rest[1:] if rest[:1] == ["--"] else rest, env, jobs)
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


def _test_jobs(env: dict[str, str]) -> int:
    """How many test sessions run at once: ``PGHISTORY_TEST_JOBS``, 1 with ``DATABASE_URL``."""
    if env.get("DATABASE_URL"):
        return 1
    value = env.get("PGHISTORY_TEST_JOBS", "2")
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"dev.py: PGHISTORY_TEST_JOBS must be a positive whole number, not {value!r}")
    return int(value)


def _run_tests_in_parallel(nox: list[str], rest: list[str], env: dict[str, str], jobs: int) -> int:
    """Run every ``tests(...)`` session, ``jobs`` at a time, each slot on its own embedded server.

    A slot keeps its data directory from session to session (``PGHISTORY_PGDATA``, then
    ``<it>-2``, ``<it>-3``...). Each session's output goes to ``.nox/logs/`` and is printed
    whole when the session ends; the exit status is 1 if any session failed, 130 if interrupted.
    """
    listed = subprocess.run([*nox, "--list", "--json"], cwd=ROOT, env=env, capture_output=True)
    if listed.returncode != 0:
        sys.stderr.buffer.write(listed.stdout + listed.stderr)
        return listed.returncode
    sessions = [s["session"] for s in json.loads(listed.stdout) if s["name"] == "tests"]
    from devdb import embedded_data_dir  # standard library only at import

    pgdata = embedded_data_dir()
    logs = ROOT / ".nox" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"dev.py: {len(sessions)} test sessions, {jobs} at a time (output in {logs})", flush=True)
    waiting = list(sessions)
    running: dict[int, tuple[str, subprocess.Popen[bytes], float]] = {}
    results: dict[str, tuple[int, float]] = {}
    interrupted: list[int] = []

    def stop(signum: int, frame: object) -> None:
        interrupted.append(signum)
        waiting.clear()
        for _, process, _ in running.values():
            process.send_signal(signal.SIGINT)

    def log_of(session: str) -> Path:
        return logs / (re.sub(r"[^\w.-]+", "-", session).strip("-") + ".log")

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while waiting or running:
            for slot in range(jobs):
                if slot in running or not waiting:
                    continue
                session = waiting.pop(0)
                data_dir = str(pgdata) + (f"-{slot + 1}" if slot else "")
                with log_of(session).open("wb") as output:
                    process = subprocess.Popen(
                        [*nox, "--sessions", session, *(["--", *rest] if rest else [])],
                        cwd=ROOT,
                        env={**env, "PGHISTORY_PGDATA": data_dir},
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # Ctrl-C reaches the sessions through stop() only
                    )
                running[slot] = (session, process, time.monotonic())
                print(f"dev.py: started {session}", flush=True)
            time.sleep(0.2)
            for slot, (session, process, started) in list(running.items()):
                if process.poll() is not None:
                    del running[slot]
                    results[session] = (process.returncode, time.monotonic() - started)
                    print(log_of(session).read_text(errors="replace"), end="")
                    print(f"dev.py: {session} exited {process.returncode}", flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("dev.py: test sessions:")
    for session in sessions:
        if session not in results:
            print(f"  not run {session}")
            continue
        code, seconds = results[session]
        print(f"  {'ok     ' if code == 0 else 'FAILED '} {session} ({seconds / 60:.1f} min)")
    if interrupted:
        return 130
    return 0 if len(results) == len(sessions) and not any(c for c, _ in results.values()) else 1


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
