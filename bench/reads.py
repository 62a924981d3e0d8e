"""Read benchmarks over a generated history: audit log pages, filters, timelines, export, sizes.

The same queries run on pghistory-admin's ``Events`` and django-pghistory's ``Events`` (same
ordering and limit) over identical histories. Slow queries are repeated only while they fit a
time budget; every query's plan is written to ``plans/`` (``EXPLAIN (ANALYZE, BUFFERS)``, plain
``EXPLAIN`` for queries slower than ``ANALYZE_LIMIT``).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from bench import database, seed
from bench.timing import PeakRSS, Samples, timed

#: Seconds of samples after which a workload is not repeated any more.
BUDGET = 15.0
#: A first run slower than this counts as a sample (no separate warm-up).
WARM_UP_LIMIT = 2.0
#: Queries slower than this get a plain EXPLAIN (ANALYZE would run them again).
ANALYZE_LIMIT = 5.0
#: The export covers the newest fifth of the events, at most this many, so that a slow export
#: cannot take the whole run.
EXPORT_EVENTS = 200_000


def export_size(events: int) -> int:
    """How many of the newest events the export benchmark writes."""
    return max(1, min(EXPORT_EVENTS, events // 5))


LIBRARIES = tuple(seed.LIBRARIES)
OURS, PEER = LIBRARIES
#: The export of every event (the issue's target: 1,000,000 events).
WHOLE = f"{OURS} (whole history)"
#: The same on one connection (``PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0``), for the ratio.
WHOLE_ONE = f"{OURS} (whole history, one connection)"


@dataclass(frozen=True)
class Setup:
    """Facts about the generated history the queries need."""

    events: int
    obj: int
    cursor: int
    user: int
    rare_user: int
    since: Any
    until: Any
    #: An item with ``moments.HOT_EVENTS`` events (blame and as-of benchmarks).
    hot: int = 0


def events_model(library: str) -> Any:
    """The aggregate stream of a library."""
    if library == "pghistory-admin":
        from pghistory_core.models import Events

        return Events
    from pghistory.models import Events as PeerEvents

    return PeerEvents


def _metadata(library: str) -> str:
    """The aggregate's column holding context metadata."""
    return "pgh_context_metadata" if library == "pghistory-admin" else "pgh_context"


@dataclass(frozen=True)
class Read:
    """One read workload; ``query`` builds the (sliced) queryset for a library."""

    key: str
    title: str
    query: Callable[[str, Setup], QuerySet[Any]]
    #: pghistory-admin's target in milliseconds (``None``: no absolute target).
    target_ms: float | None = None
    #: The libraries that have this query.
    libraries: tuple[str, ...] = LIBRARIES


def _timeline(library: str, setup: Setup) -> QuerySet[Any]:
    obj = seed.tracked_model(library, "Item")(pk=setup.obj)
    return events_model(library).objects.tracks(obj).order_by("-pgh_id")[:25]


def _first_page(library: str, setup: Setup) -> QuerySet[Any]:
    return events_model(library).objects.order_by("-pgh_id")[:50]


def _deep_page(library: str, setup: Setup) -> QuerySet[Any]:
    return events_model(library).objects.filter(pgh_id__lt=setup.cursor).order_by("-pgh_id")[:50]


def _by_user(user: Callable[[Setup], int]) -> Callable[[str, Setup], QuerySet[Any]]:
    def query(library: str, setup: Setup) -> QuerySet[Any]:
        lookup = {f"{_metadata(library)}__user": user(setup)}
        return events_model(library).objects.filter(**lookup).order_by("-pgh_id")[:50]

    return query


def _context_matches(user: Callable[[Setup], int]) -> Callable[[str, Setup], QuerySet[Any]]:
    """The admin's user filter: ``Events.objects.context_matches({"user": …})``."""

    def query(library: str, setup: Setup) -> QuerySet[Any]:
        events = events_model(library).objects.context_matches({"user": user(setup)})
        return events.order_by("-pgh_id")[:50]

    return query


def _model_dates(library: str, setup: Setup) -> QuerySet[Any]:
    return (
        events_model(library)
        .objects.across(seed.event_model(library, "Order"))
        .filter(pgh_created_at__gte=setup.since, pgh_created_at__lt=setup.until)
        .order_by("-pgh_id")[:50]
    )


def reads() -> list[Read]:
    """The read workloads this version of pghistory_core supports."""
    from pghistory_core.aggregate import EventsQuerySet

    has_matches = hasattr(EventsQuerySet, "context_matches")
    return [r for r in READS if has_matches or not r.key.endswith("_matches")]


READS = [
    Read("timeline", "one object's timeline with diffs (25 rows)", _timeline, 5),
    Read("first_page", "audit log, first page (50 rows, with diffs)", _first_page, 50),
    Read("deep_page", "audit log, keyset page 90% deep (`pgh_id < cursor`)", _deep_page, 50),
    Read(
        "by_user",
        "filtered by context user (a typical user), first 50",
        _by_user(lambda s: s.user),
        20,
    ),
    Read(
        "by_rare_user",
        "filtered by context user (a user with few events), first 50",
        _by_user(lambda s: s.rare_user),
        20,
    ),
    Read(
        "by_user_matches",
        "typical user, `context_matches({'user': …})` (the admin's filter)",
        _context_matches(lambda s: s.user),
        20,
        (OURS,),
    ),
    Read(
        "by_rare_user_matches",
        "rare user, `context_matches({'user': …})` (the admin's filter)",
        _context_matches(lambda s: s.rare_user),
        20,
        (OURS,),
    ),
    Read(
        "model_dates",
        "one model (`across`) and a 7-day range half a year back, first 50",
        _model_dates,
    ),
]


def _measure(
    run: Callable[[], Any], repeat: int, budget: float = BUDGET
) -> Iterator[tuple[float, Any]]:
    """Samples of ``run``: a warm-up first (kept if slow), then up to ``repeat`` within ``budget``."""
    seconds, result = timed(run)
    spent = 0.0
    if seconds > WARM_UP_LIMIT:
        spent += seconds
        yield seconds, result
        repeat -= 1
    for _ in range(repeat):
        if spent > budget:
            return
        seconds, result = timed(run)
        spent += seconds
        yield seconds, result


def _plan(queryset: QuerySet[Any], analyze: bool) -> tuple[str, str]:
    sql, params = queryset.query.sql_with_params()
    return sql, database.explain(sql, params, analyze=analyze)


def _queries(setup: Setup, repeat: int, plans_dir: Path) -> dict[str, Any]:
    collected: dict[tuple[str, str], list[tuple[float, int]]] = {}
    runners = {
        (read.key, library): _measure(lambda r=read, lib=library: list(r.query(lib, setup)), repeat)
        for read in reads()
        for library in read.libraries
    }
    # Interleaved: one sample of every query and library per round, until all are done.
    while runners:
        for key, runner in list(runners.items()):
            try:
                seconds, rows = next(runner)
            except StopIteration:
                del runners[key]
                continue
            collected.setdefault(key, []).append((seconds, len(rows)))
            print(f"  reads {key[0]:<13} {key[1]:<16} {seconds * 1000:10.1f} ms", file=sys.stderr)

    results: dict[str, Any] = {}
    for read in reads():
        entry: dict[str, Any] = {"title": read.title, "target_ms": read.target_ms, "libraries": {}}
        for library in read.libraries:
            measured = collected[(read.key, library)]
            samples = Samples([seconds for seconds, _ in measured])
            analyze = samples.min < ANALYZE_LIMIT
            sql, plan = _plan(read.query(library, setup), analyze)
            path = plans_dir / f"read_{read.key}_{_slug(library)}.txt"
            kind = (
                "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN (too slow to ANALYZE again)"
            )
            path.write_text(f"-- {library}: {read.title}\n-- {kind}\n{sql};\n\n{plan}\n")
            entry["libraries"][library] = {
                **samples.as_dict(),
                "rows": measured[-1][1],
                "execution_ms": database.execution_ms(plan),
                "plan": path.name,
            }
        results[read.key] = entry
    return results


def _slug(library: str) -> str:
    return library


class _CountingSink:
    """A file that only counts what ``csv.writer`` writes to it."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> None:
        self.chars += len(text)


_BASE_VALUES = ("pgh_id", "pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_label")


def _values(library: str) -> tuple[str, ...]:
    return (*_BASE_VALUES, "pgh_context_id", _metadata(library), "pgh_data", "pgh_diff")


def _exported(library: str, events: int, whole: bool = False) -> QuerySet[Any]:
    """The newest ``export_size(events)`` events, or (``whole``) every event."""
    if whole:
        return events_model(library).objects.all()
    return events_model(library).objects.filter(pgh_id__gt=events - export_size(events))


@dataclass(frozen=True)
class Exporter:
    """One way of exporting a library's events as CSV."""

    key: str
    library: str
    how: str
    #: Exported queryset -> CSV rows (lists) or, when ``raw``, CSV bytes.
    produce: Callable[[QuerySet[Any]], Iterator[Any]]
    #: Whether the output starts with a header row.
    header: bool = False
    raw: bool = False
    #: Every event of the history instead of the newest ``export_size(events)``.
    whole: bool = False


def _peer_rows(queryset: QuerySet[Any]) -> Iterator[Any]:
    values = queryset.order_by("-pgh_id").values_list(*_values("django-pghistory"))
    return values.iterator(chunk_size=2000)


def exporters() -> list[Exporter]:
    """The admin's export first (``copy_chunks``, else ``csv_rows``), then the alternatives."""
    try:
        from pghistory_admin import export
    except ImportError:
        how = "own keyset loop over `.values()` (no `pghistory_admin.export`)"
        found = [Exporter(OURS, OURS, how, _keyset_values)]
    else:
        # The rows built in Python: the tests' oracle of the export (run from the repository).
        from tests.admin.export_oracle import csv_rows as python_rows

        csv_rows = Exporter(
            OURS, OURS, "`tests.admin.export_oracle.csv_rows`", python_rows, header=True
        )
        found = [csv_rows]
        if hasattr(export, "copy_chunks"):
            how = "`pghistory_admin.export.copy_chunks` (what the admin streams)"
            copy = Exporter(OURS, OURS, how, export.copy_chunks, header=True, raw=True)
            one = f"{how} with `PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0` (one connection)"
            found = [
                copy,
                Exporter(WHOLE, OURS, how, export.copy_chunks, header=True, raw=True, whole=True),
                Exporter(WHOLE_ONE, OURS, one, _one_connection, header=True, raw=True, whole=True),
                Exporter(f"{OURS} (csv_rows)", OURS, csv_rows.how, python_rows, True),
            ]
    how = "`Events.objects.filter(pgh_id__gt=…).order_by('-pgh_id').values_list(…).iterator(2000)`"
    return [*found, Exporter(PEER, PEER, how, _peer_rows)]


def _one_connection(queryset: QuerySet[Any]) -> Iterator[bytes]:
    """``copy_chunks`` on the current connection, one chunk after the other (no parallel COPYs)."""
    from django.test import override_settings

    from pghistory_admin import export

    with override_settings(PGHISTORY_ADMIN_EXPORT_CONNECTIONS=0):
        yield from export.copy_chunks(queryset)


def _keyset_values(queryset: QuerySet[Any], chunk: int = 2000) -> Iterator[Any]:
    """Every event of ``queryset`` by keyset over ``pgh_id``, ``chunk`` rows per query."""
    ordered = queryset.order_by("-pgh_id").values_list(*_values("pghistory-admin"))
    last = None
    while True:
        page = list((ordered if last is None else ordered.filter(pgh_id__lt=last))[:chunk])
        yield from page
        if len(page) < chunk:
            return
        last = page[-1][0]


def _lines(block: bytes) -> int:
    """The line ends in ``block``, found with ``memchr`` (``bytes.count`` tests each byte in a
    loop: 0.2 s for a 765 MB export, charged to the export it measures)."""
    found, at = 0, block.find(b"\n")
    while at >= 0:
        found += 1
        at = block.find(b"\n", at + 1)
    return found


def _export_once(exporter: Exporter, events: int) -> dict[str, Any]:
    """Write the exported events as CSV to a counting sink; time, rows, memory."""
    sink = _CountingSink()
    writer = csv.writer(sink)

    def run() -> int:
        written = 0
        for item in exporter.produce(_exported(exporter.library, events, exporter.whole)):
            if exporter.raw:
                sink.chars += len(item)
                written += _lines(item)
            else:
                writer.writerow(item)
                written += 1
        return written

    with PeakRSS() as peak:
        seconds, rows = timed(run)
    print(f"  export {exporter.key:<28} {rows} rows {seconds:8.2f} s", file=sys.stderr)
    return {
        "seconds": seconds,
        "events": rows - 1 if exporter.header else rows,
        "chars": sink.chars,
        "growth": peak.growth,
    }


def _copy_plans(events: int, plans_dir: Path) -> dict[str, Any]:
    """``EXPLAIN ANALYZE`` of the first ``COPY`` of ``copy_chunks`` (newest events, whole history)."""
    try:
        from pghistory_admin.export import copy_statements
    except ImportError:
        return {}
    found = {}
    for name, whole in (("newest", False), ("whole", True)):
        statement = next(copy_statements(_exported(OURS, events, whole)), None)
        if statement is None:
            continue
        select = statement[len("COPY (") : statement.rindex(") TO STDOUT")]
        plan = database.explain(select, None, analyze=True)
        path = plans_dir / f"export_copy_{name}_{OURS}.txt"
        path.write_text(f"-- {OURS}: first COPY of copy_chunks ({name})\n{statement};\n\n{plan}\n")
        found[name] = {"execution_ms": database.execution_ms(plan), "plan": path.name}
    return found


def _export_chunk(events: int, plans_dir: Path) -> dict[str, Any]:
    """Server time of one 2,000-row keyset chunk of the export, with and without diffs."""
    library = "pghistory-admin"
    cursor = events - export_size(events) // 2
    chunk = events_model(library).objects.filter(pgh_id__lt=cursor).order_by("-pgh_id")
    found = {}
    for name, columns in (
        ("with_diff", _values(library)),
        ("without_diff", _values(library)[:-1]),
        ("ids_only", ("pgh_id",)),
    ):
        sql, plan = _plan(chunk.values(*columns)[:2000], analyze=True)
        path = plans_dir / f"export_chunk_{name}_{library}.txt"
        path.write_text(f"-- {library}: one 2,000-row export chunk, {name}\n{sql};\n\n{plan}\n")
        found[name] = {"execution_ms": database.execution_ms(plan), "plan": path.name}
    return found


def _export(events: int, repeat: int, plans_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "_chunk": _export_chunk(events, plans_dir),
        "_copy": _copy_plans(events, plans_dir),
    }
    for exporter in exporters():
        runs: list[dict[str, Any]] = []
        try:
            while (
                len(runs) < max(1, min(repeat, 3)) and sum(r["seconds"] for r in runs) <= 2 * BUDGET
            ):
                runs.append(_export_once(exporter, events))
        except Exception as exc:  # the export is written alongside: report it, keep going
            results[exporter.key] = {"error": repr(exc), "how": exporter.how}
            continue
        samples = Samples([r["seconds"] for r in runs])
        exported = runs[-1]["events"]
        results[exporter.key] = {
            **samples.as_dict(),
            "how": exporter.how,
            "events": exported,
            "events_per_second": exported / samples.min,
            "median_events_per_second": exported / samples.median,
            "peak_rss_growth_mb": [round(r["growth"] / 2**20, 1) for r in runs],
            "csv_mb": round(runs[-1]["chars"] / 2**20, 1),
        }
    return results


def _sizes() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        tables = {}
        totals = {"rows": 0, "total": 0, "heap": 0, "indexes": 0}
        for stream in seed.STREAMS:
            model = seed.event_model(library, stream.kind)
            name = model._meta.db_table
            rows, total, heap, indexes = database.execute(
                "SELECT (SELECT count(*) FROM " + database.qn(name) + "), "
                "pg_total_relation_size(%s), pg_relation_size(%s), pg_indexes_size(%s)",
                [name, name, name],
            )[0]
            tables[name] = {"rows": rows, "total": total, "heap": heap, "indexes": indexes}
            for key, value in tables[name].items():
                totals[key] += value
        context = seed.context_model(library)._meta.db_table
        context_rows, context_bytes = database.execute(
            f"SELECT (SELECT count(*) FROM {database.qn(context)}), pg_total_relation_size(%s)",
            [context],
        )[0]
        per_event = {k: totals[k] / max(1, totals["rows"]) for k in ("total", "heap", "indexes")}
        results[library] = {
            "tables": tables,
            "totals": totals,
            "bytes_per_event": per_event,
            "index_bytes": _index_sizes(library),
            "context_rows": context_rows,
            "context_bytes": context_bytes,
        }
    return results


def _index_sizes(library: str) -> dict[str, int]:
    model = seed.event_model(library, "Item")
    rows = database.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass ORDER BY 1",
        [model._meta.db_table],
    )
    return dict(rows)


def _shape(setup: Setup) -> dict[str, Any]:
    """How selective the filters are, counted in SQL on pghistory-admin's tables."""
    from pghistory_core.models import Context

    context = database.table(Context)
    counts = {}
    for name, user in (("user", setup.user), ("rare_user", setup.rare_user)):
        union = " UNION ALL ".join(
            f"SELECT pgh_context_id FROM {database.table(seed.event_model('pghistory-admin', s.kind))}"
            for s in seed.STREAMS
        )
        counts[f"events_of_{name}"] = database.scalar(
            f"SELECT count(*) FROM ({union}) AS e JOIN {context} AS c ON c.id = e.pgh_context_id "
            "WHERE c.metadata -> 'user' = to_jsonb(%s::int)",
            [user],
        )
    order = seed.event_model("pghistory-admin", "Order")
    counts["order_events_in_range"] = database.scalar(
        f"SELECT count(*) FROM {database.table(order)} WHERE pgh_created_at >= %s AND pgh_created_at < %s",
        [setup.since, setup.until],
    )
    counts["events_below_cursor"] = setup.cursor - 1
    return counts


def run(events: int, repeat: int, plans_dir: Path) -> dict[str, Any]:
    """Generate the history, then run every read benchmark; JSON-ready results."""
    print(f"  generating {events} events per library ...", file=sys.stderr)
    generated = seed.generate(events)
    plan: seed.Plan = generated.pop("_plan")
    from bench import moments

    hot = moments.add_hot_item(plan)
    setup = Setup(
        events=events,
        obj=1,
        cursor=events // 10,
        user=1,
        rare_user=seed.RARE_USER,
        since=plan.at(events // 2),
        until=plan.at(events // 2) + (plan.at(events) - plan.at(0)) / 365 * 7,
        hot=hot,
    )
    plans_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "generated": generated,
        "setup": {
            "object": f"Item {setup.obj}",
            "cursor": setup.cursor,
            "user": setup.user,
            "rare_user": setup.rare_user,
            "since": setup.since.isoformat(),
            "until": setup.until.isoformat(),
            **_shape(setup),
        },
    }
    results["queries"] = _queries(setup, repeat, plans_dir)
    results["moments"] = moments.measure(setup, repeat)
    from bench.pages import measure_admin

    results["admin"] = measure_admin(setup, repeat)
    from bench import changed_fields

    results["field_filter"] = changed_fields.measure(setup, repeat, plans_dir)
    results["export"] = _export(events, repeat, plans_dir)
    results["sizes"] = _sizes()
    return results
