"""``python -m bench``: run the benchmarks and write RESULTS.md / results.json."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUICK = {"events": 100_000, "rows": 5_000, "repeat": 2}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rows", type=int, help="rows per write benchmark (default 20,000)")
    parser.add_argument(
        "--saves", type=int, help="single-row save() calls (default rows / 10, i.e. 2,000)"
    )
    parser.add_argument("--repeat", type=int, help="repetitions of each workload (default 5)")
    parser.add_argument(
        "--events", type=int, help="events per library for reads (default 1,000,000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast check: {QUICK['events']:,} events, {QUICK['rows']:,} rows, "
        f"{QUICK['repeat']} repetitions, written to bench/.scratch/quick/ unless --out is given",
    )
    parser.add_argument("--only", choices=["writes", "reads"], help="run one half only")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory of RESULTS.md, results.json and plans/ (default bench/)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="leave the generated history in the database"
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else {"events": 1_000_000, "rows": 20_000, "repeat": 5}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.saves is None:
        args.saves = max(1, args.rows // 10)
    if args.out is None:
        args.out = HERE / ".scratch" / "quick" if args.quick else HERE
    if min(args.rows, args.saves, args.repeat, args.events) < 1 or args.saves > args.rows:
        parser.error("--rows, --saves, --repeat and --events must be positive, saves <= rows")
    return args


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench import environment, outside, reads, report, seed, writes
    from bench.database import truncate

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    # A database migrated by an earlier version keeps its triggers; bring them up to date.
    call_command("pgtrigger", "install", verbosity=0)
    previous = report.load(args.out) if args.only else {}
    results: dict[str, Any] = {
        "args": shlex.join(argv),
        "environment": environment.collect(),
    }
    plans = args.out / "plans"
    if args.only != "reads":
        print(
            f"writes: {args.rows} rows, {args.saves} saves, {args.repeat} repetitions",
            file=sys.stderr,
        )
        results["writes"] = writes.run(args.rows, args.saves, args.repeat, plans)
        results["writes"]["_outside_writes"] = outside.run(args.rows, args.saves, args.repeat)
        results["writes"]["_config"] = {
            "rows": args.rows,
            "saves": args.saves,
            "repeat": args.repeat,
        }
    elif "writes" in previous:
        results["writes"] = previous["writes"]
    if args.only != "writes":
        print(f"reads: {args.events} events, {args.repeat} repetitions", file=sys.stderr)
        results["reads"] = reads.run(args.events, args.repeat, plans)
        if not args.keep_data:
            truncate(*seed.all_tables())
    elif "reads" in previous:
        results["reads"] = previous["reads"]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["environment"]["machine"]["load_average_at_end"] = environment.load_average()
    report.write(results, args.out)
    print(f"done in {results['seconds']:.0f} s: {args.out / 'RESULTS.md'}", file=sys.stderr)
    for target in report.targets(results):
        verdict = {True: "met   ", False: "MISSED", None: "n/a   "}[target["ok"]]
        print(f"  {verdict} {target['name']}: {target['measured']} (target {target['target']})")


if __name__ == "__main__":
    main(sys.argv[1:])
