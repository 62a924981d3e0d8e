"""Admin pages through Django's test client: server time, queries, SQL time."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from bench.timing import Samples, timed

if TYPE_CHECKING:
    from bench.reads import Setup

#: The audit log's URL name on the default admin site.
AUDIT_LOG = "admin:pghistory_admin_auditlog_changelist"


def _pages(setup: Setup) -> dict[str, str]:
    audit_log = reverse(AUDIT_LOG)
    return {
        "audit_log": audit_log,
        "audit_log_deep": f"{audit_log}?before={setup.cursor}",
        "audit_log_user": f"{audit_log}?user={setup.user}",
        "object_history": reverse("admin:bench_coreitem_history", args=[setup.obj]),
        "object_blame": reverse("admin:bench_coreitem_history_blame", args=[setup.hot]),
        "object_as_of": reverse("admin:bench_coreitem_history_as_of", args=[setup.obj])
        + f"?at={setup.since:%Y-%m-%dT%H:%M:%S}",
    }


def measure_admin(setup: Setup, repeat: int) -> dict[str, Any]:
    """Time the admin pages, or say why they cannot be measured."""
    from bench.urls import ADMIN_UNAVAILABLE

    if ADMIN_UNAVAILABLE:
        return {"skipped": ADMIN_UNAVAILABLE}
    try:
        pages = _pages(setup)
    except NoReverseMatch as exc:
        return {"skipped": f"admin URL missing: {exc}"}
    client = Client()
    client.force_login(get_user_model().objects.get(pk=1))
    results: dict[str, Any] = {}
    for name, url in pages.items():
        try:
            results[name] = _measure_page(client, url, repeat)
        except Exception as exc:  # the admin is written alongside: report it, keep going
            results[name] = {"url": url, "error": repr(exc)}
        print(
            f"  admin {name:<16} {results[name].get('median', 0) * 1000:8.1f} ms", file=sys.stderr
        )
    return results


def _measure_page(client: Client, url: str, repeat: int) -> dict[str, Any]:
    samples, statuses, queries, sql_ms, size = Samples(), set(), 0, [], 0
    client.get(url)  # warm-up: templates, caches
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            seconds, response = timed(lambda url=url: client.get(url))
        samples.seconds.append(seconds)
        statuses.add(response.status_code)
        queries = len(captured.captured_queries)
        sql_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        size = len(response.content)
    return {
        "url": url,
        **samples.as_dict(),
        "status": sorted(statuses),
        "queries": queries,
        "sql_ms_median": Samples(sql_ms).median,
        "bytes": size,
    }
