"""The audit log's "changed field" filter (``?field=``) over the read history (pghistory-admin only).

Two fields of the generated history: ``customer_id`` of orders, which changes in 1.0% of all
events (every ``seed.REASSIGNED``-th order moves to another customer in each of its updates), and
``id``, which all three models track and no event changes, so its search reads as far as
``PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT`` lets it and says where it stopped. Measured through the test
client (server time, as ``pages.py``): the audit log page and the CSV export of each, beside the
orders' page without the filter (what rendering order rows costs anyway), interleaved in each round;
and the first page's query alone (``Events.objects.changed(…)``), whose plan goes to ``plans/``.
Nothing is recorded at write time: the filter costs writes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from bench import database, seed
from bench.timing import Samples, timed

if TYPE_CHECKING:
    from bench.reads import Setup

OURS = "pghistory-admin"
#: Changed in 1.0% of all events, evenly from the second fifth of the year on (1.25% there).
COMMON = "customer_id"
#: Tracked by every model, never changed: the search goes to its limit.
RARE = "id"
PAGE_TARGET_MS = 150.0
RARE_TARGET_MS = 1000.0


def _share() -> dict[str, Any]:
    """How many events changed ``COMMON``, of how many (counted with a window over the orders)."""
    orders = database.table(seed.event_model(OURS, "Order"))
    changed = database.scalar(
        f"SELECT count(*) FROM (SELECT customer_id, lag(customer_id) OVER "
        f"(PARTITION BY pgh_obj_id ORDER BY pgh_id) AS before, row_number() OVER "
        f"(PARTITION BY pgh_obj_id ORDER BY pgh_id) AS n FROM {orders}) AS o "
        "WHERE n > 1 AND customer_id IS DISTINCT FROM before"
    )
    total = sum(database.count(seed.event_model(OURS, stream.kind)) for stream in seed.STREAMS)
    return {"changed": changed, "events": total, "share": changed / max(1, total)}


def _urls() -> dict[str, str]:
    page = reverse("admin:pghistory_admin_auditlog_changelist")
    export = reverse("admin:pghistory_admin_auditlog_export")
    return {
        "orders_page": f"{page}?model=bench.coreorder",
        "common_page": f"{page}?field={COMMON}",
        "rare_page": f"{page}?field={RARE}",
        "common_export": f"{export}?field={COMMON}",
        "rare_export": f"{export}?field={RARE}",
    }


def _fetch(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    if response.streaming:
        body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        lines = body.splitlines()
        note = lines[-1] if lines and lines[-1].startswith('"# ') else None
        return {"status": response.status_code, "rows": len(lines) - 1 - bool(note), "note": note}
    html = response.content.decode()
    return {
        "status": response.status_code,
        # Each row of the audit log has a button expanding it.
        "rows": len(set(re.findall(r'id="pgh-expand-(\d+)"', html))),
        "bounded": 'class="pgh-search-limit"' in html,
    }


def _query(plans_dir: Path) -> dict[str, Any]:
    """The first page's query alone: ``Events.objects.changed(COMMON)``, newest 51."""
    from pghistory_core.models import Events

    queryset = Events.objects.changed(COMMON).order_by("-pgh_id")[:51]
    samples = Samples([timed(lambda: list(queryset.all()))[0] for _ in range(5)])
    sql, params = queryset.query.sql_with_params()
    plan = database.explain(sql, params)
    path = plans_dir / f"read_field_{COMMON}_{OURS}.txt"
    path.write_text(f"-- {OURS}: Events.objects.changed({COMMON!r}), first 51\n{sql};\n\n{plan}\n")
    return {**samples.as_dict(), "execution_ms": database.execution_ms(plan), "plan": path.name}


def measure(setup: Setup, repeat: int, plans_dir: Path) -> dict[str, Any]:
    """Time the filtered pages and exports, interleaved; JSON-ready results."""
    from pghistory_admin import conf

    client = Client()
    client.force_login(get_user_model().objects.get(pk=1))
    urls = _urls()
    for url in urls.values():
        client.get(url)  # warm-up: templates, caches
    samples: dict[str, list[float]] = {name: [] for name in urls}
    last: dict[str, dict[str, Any]] = {}
    for _ in range(repeat):
        for name, url in urls.items():
            seconds, last[name] = timed(lambda url=url: _fetch(client, url))
            samples[name].append(seconds)
    results: dict[str, Any] = {
        "fields": {"common": COMMON, "rare": RARE},
        "limit": conf.field_search_limit(),
        "changed": _share(),
        "query": _query(plans_dir),
    }
    for name, url in urls.items():
        results[name] = {"url": url, **Samples(samples[name]).as_dict(), **last[name]}
        print(f"  field  {name:<14} {results[name]['median'] * 1000:8.1f} ms", file=sys.stderr)
    return results
