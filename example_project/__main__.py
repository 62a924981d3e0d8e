"""The demo: ``python -m example_project [[ADDR:]PORT] [--no-serve] [--reseed] [--events N]``.

Migrates, creates the ``admin`` superuser, seeds an empty shop, prints how to log in, then serves
the admin with ``runserver --noreload``: one process, so the embedded PostgreSQL started by
``devdb`` stops when the server does. Run it from the repository root (``python dev.py demo``,
``python dev.py demo -- 8001`` for another port). Ctrl-C or SIGTERM stops it with exit status 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from types import FrameType

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
DEFAULT_ADDR = "127.0.0.1"
DEFAULT_PORT = "8000"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    addr, port = _address(args.addrport or os.environ.get("PORT") or DEFAULT_PORT)
    if not args.no_serve and not _port_is_free(addr, port):
        # Checked first: runserver would fail only after the seed, and with os._exit(), which
        # skips the database shutdown.
        print(
            f"Port {port} on {addr} is in use; pass another: python dev.py demo -- 8001"
            " (or python -m example_project 8001)"
        )
        return 1
    prepare_environment()
    # Ctrl-C and SIGTERM (nox, CI, kill) exit through SystemExit so atexit stops the embedded
    # PostgreSQL; with status 0, since stopping is how a demo ends (nox reports anything else
    # as a failed session).
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)

    import django
    from django.core.management import call_command

    print("Preparing the database (migrate)...", flush=True)
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    if installed := _install_triggers():
        print(f"Installed or updated {installed} triggers left behind by an earlier checkout.")
    created = _ensure_admin()

    from example_project.shop import seeding

    if args.reseed or seeding.is_empty():
        print("Seeding the shop with a month of history...", flush=True)
        call_command("seed", events=args.events, reset=args.reseed)
    else:
        print("The shop already has data (use --reseed to start over).")

    url = f"http://{_display_host(addr)}:{port}/admin/"
    _print_banner(url, created)
    if args.no_serve:
        return 0
    call_command("runserver", f"{_display_host(addr, any_ip=False)}:{port}", use_reloader=False)
    return 0


def prepare_environment() -> None:
    """The demo's settings: ``example_project.settings`` with ``DEBUG`` on (unless set)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    # DEBUG only here: runserver then serves the admin's static files, and errors show in full.
    os.environ.setdefault("DJANGO_DEBUG", "1")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m example_project",
        description="Run the pghistory-admin demo shop on 127.0.0.1:8000 (or $PORT).",
    )
    parser.add_argument("addrport", nargs="?", help="PORT or ADDR:PORT to serve on")
    parser.add_argument(
        "--no-serve", action="store_true", help="prepare the database and users, then exit"
    )
    parser.add_argument(
        "--reseed", action="store_true", help="delete the shop's rows and seed again"
    )
    parser.add_argument("--events", type=int, default=3000, help="events to seed (3000)")
    return parser


def _address(addrport: str) -> tuple[str, str]:
    addr, _, port = addrport.rpartition(":")
    if not port.isdigit():
        sys.exit(f"Not a port or ADDR:PORT: {addrport!r}")
    return addr.strip("[]") or DEFAULT_ADDR, port


def _display_host(addr: str, any_ip: bool = True) -> str:
    """``addr`` as written in a URL; with ``any_ip``, a wildcard becomes the loopback address."""
    if any_ip and addr in ("0.0.0.0", "::"):  # noqa: S104 -- a label for the printed URL
        return "127.0.0.1"
    return f"[{addr}]" if ":" in addr else addr


def _port_is_free(addr: str, port: str) -> bool:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((addr, int(port)))
        except OSError:
            return False
    return True


def _install_triggers() -> int:
    """Bring a demo database's triggers up to date; how many were missing, outdated or orphaned.

    A database from an earlier checkout may hold triggers of older models. Unlike
    ``pgtrigger install``, this touches (and reports) only those, not all of them on every start.
    """
    import pgtrigger
    from pgtrigger import core

    changed = 0
    for model, trigger in pgtrigger.registered():
        status, _enabled = trigger.get_installation_status(model)
        if status in (core.UNINSTALLED, core.OUTDATED):
            trigger.install(model)
            changed += 1
    if orphans := pgtrigger.prunable():
        pgtrigger.prune()
        changed += len(orphans)
    return changed


def _ensure_admin() -> bool:
    """Create the ``admin`` superuser unless it exists; True when created."""
    from django.contrib.auth.models import User

    if User.objects.filter(username=ADMIN_USERNAME).exists():
        return False
    User.objects.create_superuser(ADMIN_USERNAME, "admin@shop.example.com", ADMIN_PASSWORD)
    return True


def _print_banner(url: str, created: bool) -> None:
    from example_project.shop.seeding import staff

    note = "just created" if created else "already existed"
    lines = [
        "pghistory-admin demo",
        f"  Admin:    {url}",
        f"  Log in:   {ADMIN_USERNAME} / {ADMIN_PASSWORD}  ({note})",
        f"  Staff:    {', '.join(staff.ROLES)} / {staff.PASSWORD}  (fewer permissions)",
    ]
    rule = "-" * max(len(line) for line in lines)
    print("\n".join([rule, *lines, rule]), flush=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    # A second signal (nox sends SIGTERM after the terminal's SIGINT) must not interrupt the
    # shutdown, which stops the embedded PostgreSQL.
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    print(f"\nStopping the demo ({signal.Signals(signum).name}).", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    sys.exit(main())
