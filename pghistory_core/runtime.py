"""``context()``: metadata attached to every event written while it is open.

The open context lives in a ``ContextVar`` (so it follows threads started with a copied
context, ``asyncio`` tasks and ``sync_to_async``). An execute wrapper, installed on every
database connection when it is created, prefixes each write statement with
``set_config('pghistory_core.context_id', …, true)`` so triggers on any alias see it.

One concept over 300 lines: the context's whole life on a connection (open, nest, send
with the next write, mark Django's sessions), which its parts share state for.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import is_psycopg3

from pghistory_core import config, secrets

_F = TypeVar("_F", bound=Callable[..., Any])
# Statements that can never write: no need to send the context with them.
# (EXPLAIN is not one of them: EXPLAIN ANALYZE runs the statement.)
_READ_ONLY = re.compile(
    r"^\s*(SELECT|SHOW|SET|RESET|BEGIN|START|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DECLARE|FETCH|CLOSE)\b",
    re.IGNORECASE,
)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
# psycopg's TransactionStatus.INTRANS (psycopg2.extensions.TRANSACTION_STATUS_INTRANS).
_INTRANS = 2
_SAVEPOINT_ROLLBACK = re.compile(r"^\s*ROLLBACK\s+TO\b", re.IGNORECASE)
# JSON escapes Postgres' jsonb refuses (NUL, unpaired surrogates), after an even number of
# backslashes; valid surrogate pairs and escaped backslashes are matched first and kept.
_BAD_JSON = re.compile(
    r"(\\\\)|(\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2})|\\u(?:0000|d[89a-f][0-9a-f]{2})|[\ud800-\udfff]",
    re.IGNORECASE,
)


def _jsonb_safe(text: str) -> str:
    """Replace what jsonb cannot store with U+FFFD, so the context never fails the write."""
    return _BAD_JSON.sub(lambda m: m.group(1) or m.group(2) or "\\ufffd", text)


@dataclass
class _State:
    id: uuid.UUID
    metadata: dict[str, Any] = field(default_factory=dict)
    encoded: str = ""

    def encode(self) -> None:
        # Masked here, the one way metadata reaches the database (see ``secrets``).
        metadata = secrets.mask_metadata(self.metadata)
        self.encoded = _jsonb_safe(json.dumps(metadata, cls=config.json_encoder(), sort_keys=True))

    def key(self) -> tuple[uuid.UUID, str]:
        """What the triggers see of this context: changes when its metadata does."""
        return (self.id, self.encoded)


class Context(NamedTuple):
    """What ``with context(...) as ctx`` gives, as in django-pghistory 3.x: the id of the
    open context (shared by nested blocks) and its metadata, merged so far."""

    id: uuid.UUID
    metadata: dict[str, Any]


_current: contextvars.ContextVar[_State | None] = contextvars.ContextVar(
    "pghistory_core_context", default=None
)
# The blocks open in this thread or task, innermost last: (context, token of the state it
# opened, or None when it joined an open one). Kept here rather than on the context object,
# which threads and tasks may share (a module-level ``context(...)`` used in ``with``).
_Entered = tuple[tuple["context", "contextvars.Token[_State | None] | None"], ...]
_entered: contextvars.ContextVar[_Entered] = contextvars.ContextVar(
    "pghistory_core_entered", default=()
)


class context:
    """Attach metadata to every event written inside it.

    Use as a context manager (``with``/``async with``) or a decorator. Nested contexts share
    the outer context's id and merge their metadata into it. Called without entering it while
    a context is open, it adds its metadata to the open one.
    """

    def __init__(self, **metadata: Any) -> None:
        self.metadata = metadata
        self._id: uuid.UUID | None = None
        state = _current.get()
        if state is not None:
            state.metadata.update(metadata)
            state.encode()

    def __enter__(self) -> Context:
        state = _current.get()
        token = None
        if state is None:
            state = _State(id=uuid.uuid4(), metadata=dict(self.metadata))
            state.encode()
            token = _current.set(state)
        else:
            state.metadata.update(self.metadata)
            state.encode()
        _entered.set((*_entered.get(), (self, token)))
        self._id = state.id
        return Context(id=state.id, metadata=state.metadata)

    def __exit__(self, *exc_info: Any) -> None:
        entered = _entered.get()
        for index in range(len(entered) - 1, -1, -1):
            if entered[index][0] is self:
                _entered.set(entered[:index] + entered[index + 1 :])
                token = entered[index][1]
                if token is not None:
                    _current.reset(token)
                return

    async def __aenter__(self) -> Context:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: _F) -> _F:
        metadata = self.metadata
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with context(**metadata):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with context(**metadata):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @property
    def id(self) -> uuid.UUID | None:
        """The id of the context this block entered (the ``Context`` row's primary key)."""
        return self._id


class _Tracker:
    """django-pghistory 3.x's private ``runtime._tracker`` (a thread-local), read-only:
    ``_tracker.value`` is the open context (``id``, ``metadata``); without one, reading it
    raises ``AttributeError`` (so ``hasattr(_tracker, "value")`` is ``False``)."""

    @property
    def value(self) -> Context:
        state = _current.get()
        if state is None:
            raise AttributeError("value")
        return Context(id=state.id, metadata=state.metadata)


_tracker = _Tracker()


def current() -> tuple[uuid.UUID, dict[str, Any]] | None:
    """The open context's id and metadata, or ``None``."""
    state = _current.get()
    return (state.id, dict(state.metadata)) if state is not None else None


@contextlib.contextmanager
def resumed(state: _State | None) -> Iterator[None]:
    """Make ``state`` (from ``open_state()``) the open context again for the block."""
    token = _current.set(state)
    try:
        yield
    finally:
        _current.reset(token)


def open_state() -> _State | None:
    """The open context itself (same id, shared metadata), to resume it later elsewhere."""
    return _current.get()


def _literal(value: str) -> str:
    # An escape string literal reads the same whatever standard_conforming_strings says.
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _prefix(state: _State) -> str:
    return (
        f"SELECT set_config('{config.CONTEXT_ID_SETTING}', {_literal(str(state.id))}, true), "
        f"set_config('{config.CONTEXT_METADATA_SETTING}', {_literal(state.encoded)}, true); "
    )


def _may_write(sql: Any) -> bool:
    text = sql if isinstance(sql, str) else str(sql)
    if _READ_ONLY.match(text) and ";" not in text:
        # "SELECT ... FOR UPDATE" locks but does not write; a SELECT calling a function that
        # writes cannot be seen from here, which is why the prefix is cheap to send. Several
        # statements ("SET LOCAL ...; UPDATE ...") may write after the first.
        return False
    return bool(_WRITES.search(text)) or text.lstrip().upper().startswith(("COPY", "CALL"))


def _is_server_side(cursor: Any) -> bool:
    # A named (server-side) cursor declares a cursor for one query: nothing may be prepended.
    # ``iterator()`` uses one; it only reads.
    return bool(getattr(getattr(cursor, "cursor", None), "name", None))


def _in_server_transaction(connection: Any) -> bool:
    # The driver knows without a round trip (psycopg 2 and 3 share the status values). Django
    # commits and rolls back outside execute(), and a new transaction starts with a statement
    # that passes through here while the status still says idle.
    try:
        return int(connection.connection.info.transaction_status) == _INTRANS
    except (AttributeError, TypeError, ValueError):
        return False


def execute_wrapper(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context_: dict[str, Any]
) -> Any:
    """Send the open context with write statements (installed on every connection)."""
    state = _current.get()
    connection = context_["connection"]
    # As 3.x: SQL given as bytes is read as text (and the prefix prepended as bytes).
    text = sql.decode() if isinstance(sql, (bytes, bytearray)) else sql
    if not _in_server_transaction(connection):
        # Whatever was sent belonged to a transaction that has ended.
        connection._pgh_in_effect = None
    if isinstance(text, str) and _SAVEPOINT_ROLLBACK.match(text):
        # Rolling back to a savepoint restores the settings as they were when it was taken:
        # one sent since then is gone, so send it again.
        connection._pgh_in_effect = None
        return execute(sql, params, many, context_)
    if (
        state is None
        or not isinstance(text, str)
        or not _may_write(text)
        or _is_server_side(context_["cursor"])
    ):
        # Without an open context nothing is sent. As in django-pghistory 3.x, a context that
        # closed inside a transaction stays in effect for the rest of it: its settings are
        # transaction-local.
        return execute(sql, params, many, context_)
    # Settings are transaction-local: they outlive the statement in an atomic block and in a
    # transaction opened with set_autocommit(False) alike.
    in_transaction = connection.in_atomic_block or not connection.get_autocommit()
    if in_transaction and getattr(connection, "_pgh_in_effect", None) == state.key():
        # Sent earlier in this transaction and still in effect: one set_config per
        # transaction instead of one per write.
        return execute(sql, params, many, context_)
    result = _execute_with_prefix(execute, sql, params, many, context_, state, in_transaction)
    if in_transaction:
        connection._pgh_in_effect = state.key()
    return result


def _execute_with_prefix(
    execute: Callable[..., Any],
    sql: str | bytes,
    params: Any,
    many: bool,
    context_: dict[str, Any],
    state: _State,
    in_transaction: bool,
) -> Any:
    connection = context_["connection"]
    prefix = _prefix(state)
    if many:
        # The prefix cannot be prepended to each statement (psycopg 3 pipelines executemany):
        # it is sent first, in the same transaction, which in autocommit is opened for both.
        if in_transaction:
            context_["cursor"].execute(prefix)
            return execute(sql, params, many, context_)
        with transaction.atomic(using=connection.alias):
            context_["cursor"].execute(prefix)
            return execute(sql, params, many, context_)
    if params is not None:
        # The parameters are interpolated by the driver: escape the prefix's % signs.
        prefix = prefix.replace("%", "%%")
    result = execute(
        prefix.encode() + sql if isinstance(sql, (bytes, bytearray)) else prefix + sql,
        params,
        many,
        context_,
    )
    if is_psycopg3:
        # psycopg 3 keeps every result of a multi-statement query and starts at the first
        # (the set_config row); move to the statement's own result (rows, rowcount).
        context_["cursor"].cursor.nextset()
    return result


def install(connection: BaseDatabaseWrapper) -> None:
    """Install the execute wrapper on a Postgres connection wrapper (idempotent)."""
    if connection.vendor != "postgresql":
        return
    if execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_wrapper)


def install_on_connection_created(
    sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    """``connection_created`` receiver."""
    install(connection)
    mark_django_session(connection)


def mark_django_session(connection: BaseDatabaseWrapper) -> None:
    """Say in the session that Django writes through it, so the context functions leave its
    writes without a context when none is open, as django-pghistory 3.x does: attribution of
    the database session (``pghistory_core.attribution``) is for writes made outside Django.

    A session-level setting, set once per connection; any session could set it, which hides
    only its own writes (as opening an empty ``context()`` would), never attributes them to another.
    """
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    with connection.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_catalog.set_config('{config.DJANGO_SESSION_SETTING}', 'on', false)"
        )


def install_on_open_connections() -> None:
    """Install on this thread's connection wrappers (new connections get it when created)."""
    for connection in connections.all(initialized_only=True):
        install(connection)
        mark_django_session(connection)
