"""``ParallelCopy``: the chunks of one export formatted by several connections at once.

One backend formats an export at about one core's worth of ``COPY`` (the window over each chunk
keeps its plan serial), so an export opens ``PGHISTORY_ADMIN_EXPORT_CONNECTIONS`` connections of
its own, each served by a thread:

* **One snapshot.** The first connection starts a ``REPEATABLE READ, READ ONLY`` transaction and
  exports its snapshot (``pg_export_snapshot()``); the others start theirs with ``SET
  TRANSACTION SNAPSHOT``. No chunk is read before every connection has imported it, so every
  chunk, bounds queries included, sees the database as it was when the export started: a write
  committed meanwhile (a new event, a pruned one, a renamed user) is in none of them.
* **In order.** Chunks are planned one after another (``ChunkPlanner``; each bounds query runs on
  the connection that then formats the chunk) and numbered. The response reads chunk ``i``
  while the other connections format ``i + 1`` …; their output waits in a ``Spool`` (memory up
  to ``spool.MEMORY``, then a temporary file). At most as many chunks as connections are in
  flight, so a slow client holds back the database, not memory or disk beyond that.
* **Closed reliably.** ``close()`` (the server closes the response when the client goes away,
  or the garbage collector when nobody did) cancels the running ``COPY``s, waits for the
  threads, and every thread closes its connection whatever happened. Each statement runs under
  ``PGHISTORY_ADMIN_STATEMENT_TIMEOUT``; the first error ends the export at that chunk.

The transactions hold ``ACCESS SHARE`` locks on the event tables until the export ends (like
``pg_dump``): DDL that needs an exclusive lock (dropping a partition) waits for it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models, transaction

from pghistory_admin import conf
from pghistory_admin.export.copy import PARALLEL_CHUNK_SIZE, ChunkPlanner, copy_into
from pghistory_admin.export.spool import Spool, Stopped

__all__ = ["APPLICATION_NAME", "ParallelCopy"]

#: ``application_name`` of the export's connections during the export (``pg_stat_activity``).
APPLICATION_NAME = "pghistory_admin export"

#: Seconds ``close()`` waits for a thread to end after cancelling its ``COPY``.
_JOIN_TIMEOUT = 30.0

_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]+")


@dataclass
class _State:
    """What the threads and the reader share; changes under ``changed``."""

    workers: int
    changed: threading.Condition = field(default_factory=threading.Condition)
    #: Serialises planning: the bounds of a chunk follow the previous chunk's.
    planning: threading.Lock = field(default_factory=threading.Lock)
    spools: dict[int, Spool] = field(default_factory=dict)
    #: Chunks planned so far; the reader reads chunk ``consumed``.
    planned: int = 0
    consumed: int = 0
    #: No chunk after the planned ones (the planner ended, or failed with ``error``).
    finished: bool = False
    error: BaseException | None = None
    snapshot: str | None = None
    #: Threads whose transaction reads the snapshot.
    joined: int = 0
    stopped: bool = False
    #: Each thread's driver connection while it is open (to cancel its query).
    raw: dict[int, Any] = field(default_factory=dict)

    def fail(self, error: BaseException) -> None:
        with self.changed:
            if self.error is None:
                self.error = error
            self.finished = True
            self.changed.notify_all()

    def closed(self) -> bool:
        return self.stopped

    def stop(self) -> None:
        """Stop every thread: no more chunks, the running ``COPY``s cancelled."""
        with self.changed:
            self.stopped = True
            spools = list(self.spools.values())
            self.spools.clear()
            raw = list(self.raw.values())
            self.changed.notify_all()
        for spool in spools:
            spool.close()
        for connection in raw:
            # Already closed: nothing runs there.
            with contextlib.suppress(Exception):
                connection.cancel()


def _stop(state: _State, threads: list[threading.Thread]) -> None:
    state.stop()
    for thread in threads:
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)


class ParallelCopy:
    """The ``COPY`` output of an export's chunks, formatted by ``workers`` connections of the
    queryset's alias in one snapshot, read in order (see the module's docstring).

    ``start()`` opens the connections (errors raise there); iterating yields the bytes of every
    chunk in order; ``close()`` ends it all. ``first_chunk()`` reads chunk 0 whole.
    """

    def __init__(
        self,
        queryset: models.QuerySet[Any],
        *,
        workers: int,
        chunk_size: int | None = None,
        keys: list[str] | None = None,
        first_chunk_size: int | None = None,
    ) -> None:
        planner = ChunkPlanner(
            queryset,
            chunk_size=chunk_size or PARALLEL_CHUNK_SIZE,
            keys=keys,
            first_chunk_size=first_chunk_size,
        )
        self.state = _State(workers=max(1, workers))
        # The threads know the job, not this object: dropping it stops them (the finalizer).
        job = _Job(
            self.state, planner, queryset.db, conf.statement_timeout(), conf.export_work_mem()
        )
        self.threads = [
            threading.Thread(
                target=job.work, args=(number,), name=f"pghistory-export-{number}", daemon=True
            )
            for number in range(self.state.workers)
        ]
        self._next = 0
        self._finalizer = weakref.finalize(self, _stop, self.state, self.threads)

    def start(self) -> None:
        """Open the connections and share the snapshot; raises what went wrong (all closed)."""
        for thread in self.threads:
            thread.start()
        state = self.state
        with state.changed:
            state.changed.wait_for(lambda: state.joined == state.workers or state.error is not None)
            error = state.error
        if error is not None:
            self.close()
            raise error

    def close(self) -> None:
        """Cancel what runs, wait for the threads (each closes its connection); idempotent."""
        self._finalizer()

    def first_chunk(self) -> list[bytes]:
        """Chunk 0 read whole (raises its error); iterating continues with chunk 1."""
        spool = self._wait()
        return [] if spool is None else list(self._drain(spool))

    def __iter__(self) -> Iterator[bytes]:
        while (spool := self._wait()) is not None:
            yield from self._drain(spool)

    def _wait(self) -> Spool | None:
        """The spool of the next chunk in order, ``None`` after the last; raises the error
        that ended the export before that chunk."""
        index = self._next
        state = self.state
        with state.changed:
            state.changed.wait_for(
                lambda: (
                    index in state.spools
                    or state.stopped
                    or (state.finished and index >= state.planned)
                )
            )
            spool = state.spools.get(index)
            if spool is None and state.error is not None and not state.stopped:
                raise state.error
        return spool

    def _drain(self, spool: Spool) -> Iterator[bytes]:
        while (block := spool.read()) is not None:
            yield block
        state = self.state
        with state.changed:
            state.spools.pop(self._next, None)
            self._next += 1
            state.consumed = self._next
            state.changed.notify_all()
        spool.close()


@dataclass
class _Job:
    """What each thread does: join the snapshot, then plan and format chunks while any are left."""

    state: _State
    planner: ChunkPlanner
    alias: str
    timeout: float | None
    #: ``work_mem`` of the export's transactions (None: the server's).
    work_mem: str | None

    def work(self, number: int) -> None:
        state = self.state
        connection = connections[self.alias]  # this thread's own
        spool: Spool | None = None
        try:
            with transaction.atomic(using=self.alias):
                self.join(connection, number)
                while (claimed := self.claim()) is not None:
                    spool, statement = claimed
                    copy_into(connection, statement, spool.write)
                    spool.finish()
                    spool = None
        except Stopped:
            pass
        except BaseException as error:
            if spool is not None:
                spool.finish(error)
            state.fail(error)
        finally:
            with state.changed:
                state.raw.pop(number, None)
            # Every connection this thread opened (its own, and any a compiler opened).
            connections.close_all()

    def join(self, connection: Any, number: int) -> None:
        """Start this thread's transaction on the export's snapshot."""
        state = self.state
        with connection.cursor() as cursor:
            with state.changed:
                if state.stopped:
                    raise Stopped
                state.raw[number] = connection.connection
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if number == 0:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                with state.changed:
                    state.snapshot = snapshot
                    state.changed.notify_all()
            else:
                with state.changed:
                    state.changed.wait_for(
                        lambda: (
                            state.snapshot is not None or state.error is not None or state.stopped
                        )
                    )
                    snapshot = state.snapshot
                if snapshot is None or not _SNAPSHOT_ID.fullmatch(snapshot):
                    raise Stopped
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            # No parallel workers inside a chunk's plan: the export's own connections already
            # keep the cores busy, and workers would take turns with them (3.7% more events/s
            # with them off in the benchmark). Each chunk's final sort in memory: 5.6% more.
            cursor.execute(
                "SELECT set_config('application_name', %s, true), "
                "set_config('max_parallel_workers_per_gather', '0', true), "
                "set_config('work_mem', COALESCE(%s, current_setting('work_mem')), true)",
                [APPLICATION_NAME, self.work_mem],
            )
            if self.timeout:
                value = f"{max(1, round(self.timeout * 1000))}ms"
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [value])
        # The snapshot stays importable while the first transaction is open: nobody plans a
        # chunk (so the first thread cannot finish) before every thread has imported it.
        with state.changed:
            state.joined += 1
            state.changed.notify_all()
            state.changed.wait_for(
                lambda: state.joined == state.workers or state.error is not None or state.stopped
            )
            if state.stopped or state.error is not None:
                raise Stopped

    def claim(self) -> tuple[Spool, str] | None:
        """Plan the next chunk on this thread's connection; ``None`` when there is none."""
        state = self.state
        with state.planning:
            with state.changed:
                # At most ``workers`` chunks from the one being read to the newest planned.
                state.changed.wait_for(
                    lambda: (
                        state.stopped
                        or state.finished
                        or state.planned - state.consumed < state.workers
                    )
                )
                if state.stopped or state.finished:
                    return None
            try:
                statement = self.planner.next_statement()
            except BaseException as error:
                state.fail(error)
                raise Stopped from error
            with state.changed:
                if state.closed():  # while this thread planned
                    return None
                if statement is None:
                    state.finished = True
                    state.changed.notify_all()
                    return None
                spool = state.spools[state.planned] = Spool()
                state.planned += 1
                state.changed.notify_all()
            return spool, statement
