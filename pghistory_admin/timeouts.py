"""Bounded work per request: history pages and exports run under a statement timeout.

``statement_timeout()`` opens a transaction (a savepoint inside one) on each database the pages
use and sets ``statement_timeout`` in it with ``set_config(…, true)``, the function form of
``SET LOCAL``: it ends with the transaction, so a pooled connection never keeps it. A query
that runs longer is cancelled by Postgres (SQLSTATE 57014), which ``is_timeout`` recognises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction

from pghistory_admin import conf
from pghistory_core.models import Context

__all__ = ["QUERY_CANCELED", "aliases", "is_timeout", "statement_timeout"]

#: SQLSTATE of a statement cancelled by ``statement_timeout`` (or a cancel request).
QUERY_CANCELED = "57014"


def aliases() -> list[str]:
    """The databases a history page may query: the one it reads events from, and the default
    one (users, the objects' admin querysets, reverts), each once."""
    found: list[str] = []
    for alias in (conf.read_database() or router.db_for_read(Context), DEFAULT_DB_ALIAS):
        # Test mirrors share one connection object under two aliases.
        if all(connections[alias] is not connections[other] for other in found):
            found.append(alias)
    return found


@contextmanager
def statement_timeout(using: Iterable[str] | None = None) -> Iterator[None]:
    """Run the block in a transaction on each of ``using`` (default ``aliases()``) whose
    statements may each take at most ``PGHISTORY_ADMIN_STATEMENT_TIMEOUT`` seconds.

    Inside an enclosing transaction, the timeout it had is put back when the block ends; after
    an error the savepoint's rollback does that.
    """
    seconds = conf.statement_timeout()
    if not seconds:
        yield
        return
    value = f"{max(1, round(seconds * 1000))}ms"
    with ExitStack() as stack:
        restore: list[tuple[str, str]] = []
        for alias in aliases() if using is None else using:
            connection = connections[alias]
            outer = connection.in_atomic_block
            stack.enter_context(transaction.atomic(using=alias))
            with connection.cursor() as cursor:
                if outer:
                    cursor.execute("SELECT current_setting('statement_timeout')")
                    restore.append((alias, cursor.fetchone()[0]))
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [value])
        yield
        for alias, previous in restore:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` (a Django ``DatabaseError``) is a statement cancelled by its timeout."""
    cause = error.__cause__ or error
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code == QUERY_CANCELED
