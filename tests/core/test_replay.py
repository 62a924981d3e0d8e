"""Replay invariant: random write sequences leave exactly the events that replay to the rows.

Each example runs a random program of writes on four tracked models (statement-level triggers
with an integer, a natural and a UUID primary key, row-level triggers with a big integer one;
foreign-key and JSON contexts) through every write path: ``save()``, ``bulk_create``, single and
filtered ``QuerySet.update()``, ``bulk_update``, deletes, raw SQL (``execute`` and
``executemany``), primary-key changes, statements failing on a unique constraint or an integer
overflow, ``atomic`` blocks and savepoints rolled back, ``context()`` blocks, nested and merged.

A shadow model predicts every row and every event (label, tracked values, context). After the
program:

* the rows are the ones the shadow predicts (the shadow itself is right),
* each object's events, in ``pgh_id`` order, are exactly the predicted ones: no lost event, no
  phantom event (rolled-back and failed writes left none), each with the context that was open,
* replaying an object's events reproduces its current row, and an object that no longer
  exists ends with a delete event (or its primary key was changed: its later events are
  recorded under the new key).

Examples run outside a test transaction (autocommit, transactions and savepoints are all
exercised) and truncate the tables they use first.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Value
from django.db.models.deletion import Collector
from django.db.models.functions import Concat
from hypothesis import example, given
from hypothesis import strategies as st

import pghistory_core
from pghistory_core.models import Context
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Code,
    CodeEvent,
    Counter,
    CounterEvent,
    Document,
    DocumentEvent,
)

pytestmark = [pytest.mark.stress, pytest.mark.django_db(transaction=True)]

OVERFLOW = 2**31  # out of range for an IntegerField: the statement fails


@dataclass(frozen=True)
class Spec:
    model: Any
    event_model: Any
    field: str  # the field the program changes
    values: tuple[Any, ...]  # values it may write (small, so updates often change nothing)
    ident: str | None = None  # a unique field the program chooses on insert
    idents: tuple[str, ...] = ()


SPECS = {
    "author": Spec(
        Author,
        AuthorEvent,
        "email",
        ("", "x@example.com", "o'k%@example.com"),
        "name",
        ("n0", "n1", "n2"),
    ),
    "counter": Spec(Counter, CounterEvent, "value", (0, 1, 2, OVERFLOW)),
    "document": Spec(Document, DocumentEvent, "body", ("", "b", "it's 100%", "back\\slash")),
    # Natural primary keys with characters that need quoting or escaping.
    "code": Spec(Code, CodeEvent, "value", (0, 1, 2), "code", ("a", "b%", "c'", "d\\")),
}
PLAIN = {name: tuple(v for v in spec.values if v != OVERFLOW) for name, spec in SPECS.items()}


def _table(name: str) -> str:
    return connection.ops.quote_name(SPECS[name].model._meta.db_table)


def _col(name: str, attname: str) -> str:
    return connection.ops.quote_name(SPECS[name].model._meta.get_field(attname).column)


def _pk_col(name: str) -> str:
    return connection.ops.quote_name(SPECS[name].model._meta.pk.column)


# Context metadata, hostile values included: quotes, percent signs, backslashes, and what
# jsonb cannot store (NUL, unpaired surrogates), which is stored as U+FFFD.
TAGS = (0, 1, "it's", "100%", "back\\slash", "nul\x00", "lone\ud800", "😀", None)


def _stored(tag: Any) -> Any:
    return re.sub("[\x00\ud800-\udfff]", "\ufffd", tag) if isinstance(tag, str) else tag


class Rollback(Exception):
    """Raised inside an atomic block to roll it back."""


# --- the shadow model -----------------------------------------------------------------------


@dataclass
class Shadow:
    # model name -> {pk: tracked values}, in insertion order (ops pick rows by position)
    rows: dict[str, dict[Any, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in SPECS}
    )
    # (model name, str(pk)) -> [(label, tracked values, (context id, metadata) or None)]
    events: dict[tuple[str, str], list[tuple]] = field(default_factory=lambda: defaultdict(list))
    moved_away: set[tuple[str, str]] = field(default_factory=set)


class Runner:
    def __init__(self) -> None:
        self.shadow = Shadow()
        self.ctx: list | None = None  # [context id, metadata]: Python state, never rolled back
        # The context the database's transaction-local settings hold (the open one as of the
        # last write statement sent with it); it outlives its block until the transaction
        # ends, as in django-pghistory 3.x, and a savepoint rollback restores the one before.
        self.in_effect: tuple | None = None
        self.depth = 0  # open atomic blocks
        self.serial = 0

    # rows
    def pks(self, name: str) -> list[Any]:
        return list(self.shadow.rows[name])

    def pick(self, name: str, index: int) -> Any | None:
        pks = self.pks(name)
        return pks[index % len(pks)] if pks else None

    def taken(self, name: str, ident: str) -> bool:
        key = SPECS[name].ident
        return any(row[key] == ident for row in self.shadow.rows[name].values())

    def data(self, name: str, pk: Any, value: Any, ident: str | None = None) -> dict[str, Any]:
        """The tracked values of a row (all its fields)."""
        spec = SPECS[name]
        values = {spec.model._meta.pk.attname: pk}
        if spec.ident and spec.ident not in values:
            values[spec.ident] = ident
        return {**values, spec.field: value}

    # events
    def _ctx(self) -> tuple | None:
        if self.ctx is None:
            return self.in_effect if self.depth else None
        return (self.ctx[0], dict(self.ctx[1]))

    def wrote(self) -> None:
        """A write statement ran (whether or not it changed a row): it carried the context."""
        if self.ctx is not None and self.depth:
            self.in_effect = self._ctx()

    def record_insert(self, name: str, pk: Any, data: dict[str, Any]) -> None:
        self.shadow.rows[name][pk] = data
        self.shadow.events[name, str(pk)].append(("insert", data, self._ctx()))
        self.shadow.moved_away.discard((name, str(pk)))

    def record_update(self, name: str, pk: Any, value: Any) -> None:
        row = self.shadow.rows[name][pk]
        if row[SPECS[name].field] == value:
            return  # AnyChange(): no event when nothing changed
        row = {**row, SPECS[name].field: value}
        self.shadow.rows[name][pk] = row
        self.shadow.events[name, str(pk)].append(("update", row, self._ctx()))

    def record_delete(self, name: str, pk: Any) -> None:
        row = self.shadow.rows[name].pop(pk)
        self.shadow.events[name, str(pk)].append(("delete", row, self._ctx()))

    def record_move(self, old: str, new: str, value: Any) -> None:
        """A Code row's primary key changed (and maybe its value): an update under the new key."""
        rows = self.shadow.rows["code"]
        if old == new:
            self.record_update("code", old, value)
            return
        # Keep the row's position so later ops pick the same row.
        self.shadow.rows["code"] = {
            (new if pk == old else pk): ({"code": new, "value": value} if pk == old else r)
            for pk, r in rows.items()
        }
        self.shadow.events["code", new].append(
            ("update", {"code": new, "value": value}, self._ctx())
        )
        self.shadow.moved_away.add(("code", old))
        self.shadow.moved_away.discard(("code", new))

    # execution
    def attempt(self, fails: bool, func: Any, *, atomic: bool = False) -> bool:
        """Run ``func``; when ``fails``, expect a database error that leaves nothing behind."""
        if not fails:
            func()
            self.wrote()
            return True
        if self.depth == 0 and not atomic:
            # Autocommit: the failed statement is its own transaction.
            with pytest.raises(DatabaseError):
                func()
        else:
            # In a transaction the failure must be caught around a savepoint (Django's rule).
            with pytest.raises(DatabaseError), transaction.atomic():
                func()
        return False


# --- operations -----------------------------------------------------------------------------


class Op:
    def run(self, r: Runner) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Create(Op):
    """One row: ``save(force_insert=True)`` or raw ``INSERT … RETURNING``."""

    m: str
    value: Any
    ident: str | None = None
    via: str = "save"

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        fails = self.value == OVERFLOW or (spec.ident is not None and r.taken(self.m, self.ident))
        out: list[Any] = []

        def orm() -> None:
            kwargs = {spec.field: self.value}
            if spec.ident:
                kwargs[spec.ident] = self.ident
            obj = spec.model(**kwargs)
            obj.save(force_insert=True)
            out.append(obj.pk)

        def raw() -> None:
            cols, params = [_col(self.m, spec.field)], [self.value]
            if spec.ident:
                cols.append(_col(self.m, spec.ident))
                params.append(self.ident)
            if self.m == "document":
                cols.append(_pk_col(self.m))
                params.append(uuid.uuid4())
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {_table(self.m)} ({', '.join(cols)}) "
                    f"VALUES ({', '.join(['%s'] * len(cols))}) RETURNING {_pk_col(self.m)}",
                    params,
                )
                out.append(cursor.fetchone()[0])

        if r.attempt(fails, orm if self.via == "save" else raw):
            r.record_insert(self.m, out[0], r.data(self.m, out[0], self.value, self.ident))


@dataclass(frozen=True)
class CreateMany(Op):
    """Several rows in one statement (``bulk_create``, multi-row ``INSERT``) or ``executemany``."""

    m: str
    items: tuple[tuple[str | None, Any], ...]
    via: str = "bulk"

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        idents = [ident for ident, _ in self.items]
        fails = any(value == OVERFLOW for _, value in self.items) or (
            spec.ident is not None
            and (len(set(idents)) < len(idents) or any(r.taken(self.m, i) for i in idents))
        )
        out: list[Any] = []

        def build(ident: str | None, value: Any) -> Any:
            kwargs = {spec.field: value}
            if spec.ident:
                kwargs[spec.ident] = ident
            return spec.model(**kwargs)

        def bulk() -> None:
            objs = spec.model.objects.bulk_create([build(i, v) for i, v in self.items])
            out.extend(obj.pk for obj in objs)

        def columns() -> tuple[list[str], list[list[Any]]]:
            cols = [_col(self.m, spec.field)] + ([_col(self.m, spec.ident)] if spec.ident else [])
            rows = [[v] + ([i] if spec.ident else []) for i, v in self.items]
            if self.m == "document":
                cols.append(_pk_col(self.m))
                for row in rows:
                    row.append(uuid.uuid4())
            return cols, rows

        def raw() -> None:
            cols, rows = columns()
            values = ", ".join("(" + ", ".join(["%s"] * len(cols)) + ")" for _ in rows)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {_table(self.m)} ({', '.join(cols)}) VALUES {values} "
                    f"RETURNING {_pk_col(self.m)}",
                    [param for row in rows for param in row],
                )
                out.extend(row[0] for row in cursor.fetchall())

        def many() -> None:
            cols, rows = columns()
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {_table(self.m)} ({', '.join(cols)}) "
                    f"VALUES ({', '.join(['%s'] * len(cols))})",
                    rows,
                )
            # executemany returns nothing: find the rows by their unique field (or uuid).
            key = spec.ident or "pk"
            wanted = [row[-1] if self.m == "document" else row[1] for row in rows]
            found = dict(spec.model.objects.filter(**{f"{key}__in": wanted}).values_list(key, "pk"))
            out.extend(found[w] for w in wanted)

        func = {"bulk": bulk, "raw": raw, "many": many}[self.via]
        # executemany outside a transaction commits row by row or not, depending on the
        # driver: a failing one runs in a transaction.
        if r.attempt(fails, func, atomic=self.via == "many"):
            for pk, (ident, value) in zip(out, self.items, strict=True):
                r.record_insert(self.m, pk, r.data(self.m, pk, value, ident))


@dataclass(frozen=True)
class Upsert(Op):
    """``bulk_create`` with ``ignore_conflicts`` or ``update_conflicts`` on the unique field
    (``INSERT … ON CONFLICT``: insert and update events from one statement)."""

    m: str
    items: tuple[tuple[str, Any], ...]
    update: bool = True

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        assert spec.ident is not None
        idents = [ident for ident, _ in self.items]
        # ON CONFLICT DO UPDATE cannot touch a row twice in one statement.
        fails = self.update and len(set(idents)) < len(idents)
        fails = fails or any(value == OVERFLOW for _, value in self.items)
        objs = [spec.model(**{spec.ident: i, spec.field: v}) for i, v in self.items]
        if self.update:
            options = {
                "update_conflicts": True,
                "unique_fields": [spec.ident],
                "update_fields": [spec.field],
            }
        else:
            options = {"ignore_conflicts": True}
        if not r.attempt(fails, lambda: spec.model.objects.bulk_create(objs, **options)):
            return
        pks = dict(
            spec.model.objects.filter(**{f"{spec.ident}__in": idents}).values_list(spec.ident, "pk")
        )
        for ident, value in self.items:
            existing = [pk for pk, row in r.shadow.rows[self.m].items() if row[spec.ident] == ident]
            if not existing:
                r.record_insert(self.m, pks[ident], r.data(self.m, pks[ident], value, ident))
            elif self.update:
                r.record_update(self.m, existing[0], value)


@dataclass(frozen=True)
class RekeyAll(Op):
    """Every Code row gets a new primary key in one statement (``code || suffix``)."""

    raw: bool = False

    def run(self, r: Runner) -> None:
        r.serial += 1
        suffix = f"~{r.serial}"  # new keys never collide, whatever order rows are updated in
        longest = max((len(old) for old in r.pks("code")), default=0)
        if longest + len(suffix) > Code._meta.get_field("code").max_length:
            return  # the keys are full: the database would refuse the statement, not the triggers
        if self.raw:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE testapp_code SET code = code || %s", [suffix])
        else:
            Code.objects.update(code=Concat("code", Value(suffix)))
        r.wrote()
        for old in r.pks("code"):
            r.record_move(old, old + suffix, r.shadow.rows["code"][old]["value"])


@dataclass(frozen=True)
class Update(Op):
    """One row: ``save()``, ``filter(pk=…).update()`` or raw ``UPDATE``."""

    m: str
    index: int
    value: Any
    via: str = "save"

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        pk = r.pick(self.m, self.index)
        if pk is None:
            return

        def save() -> None:
            obj = spec.model.objects.get(pk=pk)
            setattr(obj, spec.field, self.value)
            obj.save()

        def qs() -> None:
            assert spec.model.objects.filter(pk=pk).update(**{spec.field: self.value}) == 1

        def raw() -> None:
            sql = (
                f"UPDATE {_table(self.m)} SET {_col(self.m, spec.field)} = %s "
                f"WHERE {_pk_col(self.m)} = %s"
            )
            with connection.cursor() as cursor:
                if self.via == "multi":
                    # Several statements in one string, the write after a read.
                    cursor.execute("SELECT 1; " + sql, [self.value, pk])
                else:
                    cursor.execute(sql, [self.value, pk])
                    assert cursor.rowcount == 1

        func = {"save": save, "qs": qs, "raw": raw, "multi": raw}[self.via]
        if r.attempt(self.value == OVERFLOW, func):
            r.record_update(self.m, pk, self.value)


@dataclass(frozen=True)
class UpdateWhere(Op):
    """``QuerySet.update()`` (or raw ``UPDATE``) of every row whose value is in ``match``."""

    m: str
    match: tuple[Any, ...]
    value: Any
    via: str = "qs"

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        targets = [pk for pk, row in r.shadow.rows[self.m].items() if row[spec.field] in self.match]
        if self.via == "qs":
            count = spec.model.objects.filter(**{f"{spec.field}__in": self.match}).update(
                **{spec.field: self.value}
            )
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_table(self.m)} SET {_col(self.m, spec.field)} = %s "
                    f"WHERE {_col(self.m, spec.field)} = ANY(%s)",
                    [self.value, list(self.match)],
                )
                count = cursor.rowcount
        r.wrote()
        assert count == len(targets)
        for pk in targets:
            r.record_update(self.m, pk, self.value)


@dataclass(frozen=True)
class BulkUpdate(Op):
    m: str
    items: tuple[tuple[int, Any], ...]

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        changes: dict[Any, Any] = {}
        for index, value in self.items:
            pk = r.pick(self.m, index)
            if pk is not None and pk not in changes:
                changes[pk] = value
        if not changes:
            return

        def run() -> None:
            objs = []
            for pk, value in changes.items():
                obj = spec.model(pk=pk)
                setattr(obj, spec.field, value)
                objs.append(obj)
            spec.model.objects.bulk_update(objs, [spec.field])

        if r.attempt(OVERFLOW in changes.values(), run):
            for pk, value in changes.items():
                r.record_update(self.m, pk, value)


@dataclass(frozen=True)
class Delete(Op):
    m: str
    index: int
    via: str = "orm"

    def run(self, r: Runner) -> None:
        pk = r.pick(self.m, self.index)
        if pk is None:
            return
        if self.via == "orm":
            SPECS[self.m].model.objects.get(pk=pk).delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {_table(self.m)} WHERE {_pk_col(self.m)} = %s", [pk])
        r.wrote()
        r.record_delete(self.m, pk)


@dataclass(frozen=True)
class DeleteWhere(Op):
    m: str
    match: tuple[Any, ...]
    via: str = "qs"

    def run(self, r: Runner) -> None:
        spec = SPECS[self.m]
        targets = [pk for pk, row in r.shadow.rows[self.m].items() if row[spec.field] in self.match]
        fast = False
        if self.via == "qs":
            queryset = spec.model.objects.filter(**{f"{spec.field}__in": self.match})
            # Without cascades or signals Django sends the DELETE at once (a "fast delete").
            fast = Collector(using=queryset.db, origin=queryset).can_fast_delete(queryset)
            queryset.delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {_table(self.m)} WHERE {_col(self.m, spec.field)} = ANY(%s)",
                    [list(self.match)],
                )
        if self.via == "raw" or targets or fast:
            # Otherwise QuerySet.delete() collects the rows first: no DELETE is sent when none match.
            r.wrote()
        for pk in targets:
            r.record_delete(self.m, pk)


@dataclass(frozen=True)
class Rekey(Op):
    """Change a Code row's primary key (``update(code=…)`` or raw), optionally with
    ``value`` set on every row by the same raw statement."""

    index: int
    new: str
    value: Any = None

    def run(self, r: Runner) -> None:
        old = r.pick("code", self.index)
        if old is None:
            return
        fails = self.new != old and self.new in r.shadow.rows["code"]
        if self.value is None:

            def func() -> None:
                assert Code.objects.filter(pk=old).update(code=self.new) == 1

        else:

            def func() -> None:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE testapp_code SET "
                        "code = CASE WHEN code = %s THEN %s ELSE code END, value = %s",
                        [old, self.new, self.value],
                    )

        if not r.attempt(fails, func):
            return
        if self.value is None:
            r.record_move(old, self.new, r.shadow.rows["code"][old]["value"])
            return
        others = [pk for pk in r.pks("code") if pk != old]
        r.record_move(old, self.new, self.value)
        for pk in others:
            r.record_update("code", pk, self.value)


@dataclass(frozen=True)
class Atomic(Op):
    """A transaction (or a savepoint when nested), rolled back by an exception if asked."""

    ops: tuple[Op, ...]
    rollback: bool = False

    def run(self, r: Runner) -> None:
        saved, in_effect = copy.deepcopy(r.shadow), r.in_effect
        try:
            with transaction.atomic():
                r.depth += 1
                try:
                    for op in self.ops:
                        op.run(r)
                    if self.rollback:
                        raise Rollback
                finally:
                    r.depth -= 1
        except Rollback:
            r.shadow, r.in_effect = saved, in_effect
        if not r.depth:
            r.in_effect = None


@dataclass(frozen=True)
class Manual(Op):
    """A transaction opened with ``set_autocommit(False)`` (top level only), then committed or
    rolled back."""

    ops: tuple[Op, ...]
    rollback: bool = False

    def run(self, r: Runner) -> None:
        assert r.depth == 0
        saved = copy.deepcopy(r.shadow)
        transaction.set_autocommit(False)
        r.depth += 1
        try:
            for op in self.ops:
                op.run(r)
        except BaseException:
            transaction.rollback()
            raise
        else:
            if self.rollback:
                transaction.rollback()
                r.shadow = saved
            else:
                transaction.commit()
        finally:
            r.depth -= 1
            r.in_effect = None
            transaction.set_autocommit(True)


@dataclass(frozen=True)
class Ctx(Op):
    """``with pghistory_core.context(tag=…)``; nested ones merge into the outer context."""

    tag: Any
    ops: tuple[Op, ...]

    def run(self, r: Runner) -> None:
        with pghistory_core.context(tag=self.tag) as ctx:
            outer = r.ctx
            if outer is None:
                r.ctx = [ctx.id, {"tag": _stored(self.tag)}]
            else:
                assert ctx.id == outer[0]
                outer[1]["tag"] = _stored(self.tag)
            try:
                for op in self.ops:
                    op.run(r)
            finally:
                if outer is None:
                    r.ctx = None


@dataclass(frozen=True)
class AddMeta(Op):
    """``pghistory_core.context(extra=…)`` without ``with``: adds to the open context."""

    extra: Any

    def run(self, r: Runner) -> None:
        pghistory_core.context(extra=self.extra)
        if r.ctx is not None:
            r.ctx[1]["extra"] = _stored(self.extra)


# --- strategies -----------------------------------------------------------------------------

names = st.sampled_from(sorted(SPECS))
index = st.integers(0, 5)


@st.composite
def creates(draw: Any) -> Op:
    m = draw(names)
    spec = SPECS[m]
    ident = st.sampled_from(spec.idents) if spec.ident else st.none()
    value = st.sampled_from(spec.values)
    if draw(st.booleans()):
        return Create(m, draw(value), draw(ident), draw(st.sampled_from(["save", "raw"])))
    items = draw(st.lists(st.tuples(ident, value), min_size=1, max_size=3))
    if spec.ident and draw(st.booleans()):
        return Upsert(m, tuple(items), draw(st.booleans()))
    vias = ["bulk", "raw"] + (["many"] if m != "counter" else [])
    return CreateMany(m, tuple(items), draw(st.sampled_from(vias)))


@st.composite
def updates(draw: Any) -> Op:
    m = draw(names)
    value = st.sampled_from(SPECS[m].values)
    match = st.lists(st.sampled_from(PLAIN[m]), min_size=1, max_size=2, unique=True).map(tuple)
    kind = draw(st.sampled_from(["one", "where", "bulk"]))
    if kind == "one":
        via = st.sampled_from(["save", "qs", "raw", "multi"])
        return Update(m, draw(index), draw(value), draw(via))
    if kind == "where":
        return UpdateWhere(
            m, draw(match), draw(st.sampled_from(PLAIN[m])), draw(st.sampled_from(["qs", "raw"]))
        )
    return BulkUpdate(m, tuple(draw(st.lists(st.tuples(index, value), min_size=1, max_size=3))))


@st.composite
def deletes(draw: Any) -> Op:
    m = draw(names)
    if draw(st.booleans()):
        return Delete(m, draw(index), draw(st.sampled_from(["orm", "raw"])))
    match = st.lists(st.sampled_from(PLAIN[m]), min_size=1, max_size=2, unique=True).map(tuple)
    return DeleteWhere(m, draw(match), draw(st.sampled_from(["qs", "raw"])))


rekeys = st.builds(
    Rekey, index, st.sampled_from(SPECS["code"].idents), st.none() | st.sampled_from(PLAIN["code"])
) | st.builds(RekeyAll, st.booleans())

tags = st.sampled_from(TAGS)
leaves = st.one_of(
    creates(), creates(), updates(), updates(), deletes(), rekeys, st.builds(AddMeta, tags)
)


def _blocks(children: Any) -> Any:
    ops = st.lists(children, min_size=1, max_size=4).map(tuple)
    return st.builds(Atomic, ops, st.booleans()) | st.builds(Ctx, tags, ops)


nested = st.recursive(leaves, _blocks, max_leaves=8)
manual = st.builds(Manual, st.lists(nested, min_size=1, max_size=4).map(tuple), st.booleans())
programs = st.lists(nested | manual, min_size=1, max_size=10)


# --- checks ---------------------------------------------------------------------------------


def _actual_rows(name: str) -> dict[str, dict[str, Any]]:
    spec = SPECS[name]
    attnames = [spec.model._meta.get_field(f).attname for f in spec.event_model.pgh_tracked_fields]
    return {
        str(row["pk"]): {a: row[a] for a in attnames}
        for row in spec.model.objects.values("pk", *attnames)
    }


def _actual_events(name: str) -> dict[str, list[tuple]]:
    spec = SPECS[name]
    json_context = spec.event_model.pgh_context_kind == "json"
    events: dict[str, list[tuple]] = defaultdict(list)
    for event in spec.event_model.objects.order_by("pgh_id"):
        if json_context:
            ctx = (
                None if event.pgh_context_id is None else (event.pgh_context_id, event.pgh_context)
            )
        else:
            ctx = event.pgh_context_id
        events[str(event.pgh_obj_id)].append((event.pgh_label, event.pgh_data, ctx))
    return events


def check(r: Runner) -> None:
    shadow = r.shadow
    context_ids = set(Context.objects.values_list("id", flat=True))
    for name, spec in SPECS.items():
        rows = _actual_rows(name)
        assert rows == {str(pk): row for pk, row in shadow.rows[name].items()}, f"{name} rows"

        actual = _actual_events(name)
        expected: dict[str, list[tuple]] = {}
        json_context = spec.event_model.pgh_context_kind == "json"
        for (model, key), events in shadow.events.items():
            if model == name and events:
                expected[key] = [
                    (label, data, ctx if json_context or ctx is None else ctx[0])
                    for label, data, ctx in events
                ]
        for key in sorted(set(actual) | set(expected)):
            assert actual.get(key, []) == expected.get(key, []), f"events of {name} {key}"

        # The replay invariant, from the events alone.
        for key, events in actual.items():
            state = None
            for label, data, _ in events:
                state = None if label == "delete" else data
            if key in rows:
                assert state == rows[key], f"replay of {name} {key}"
            else:
                assert events[-1][0] == "delete" or (name, key) in shadow.moved_away, (
                    f"{name} {key} is gone without a delete event"
                )
        for key in rows:
            assert actual.get(key), f"{name} {key} exists without events"

        if not json_context:
            used = {ctx for events in actual.values() for _, _, ctx in events if ctx}
            assert used <= context_ids, "events point at missing Context rows"


def _reset() -> None:
    """Empty the tables (DELETE with the triggers ignored: much faster than TRUNCATE)."""
    import pgtrigger

    tables = [spec.model._meta.db_table for spec in SPECS.values()]
    tables += [spec.event_model._meta.db_table for spec in SPECS.values()]
    tables.append(Context._meta.db_table)
    with pgtrigger.ignore(), connection.cursor() as cursor:
        # Durability is not under test: commits need not wait for the disk.
        cursor.execute("SET synchronous_commit TO off")
        for table in ["testapp_booktag", "testapp_book", *tables]:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")


def run_program(program: list[Op]) -> None:
    _reset()
    runner = Runner()
    for op in program:
        op.run(runner)
    assert runner.depth == 0
    check(runner)


# A context closed inside a transaction, then a savepoint rolled back: the writes after it
# still carry the context (formerly cleared, and restored by the rollback).
_SAVEPOINT_LEAK = [
    Atomic(
        (
            Ctx(0, (Create("counter", 0),)),
            Atomic((Create("counter", 1),), rollback=True),
            Create("counter", 2),
        )
    )
]
# The same in a transaction opened with set_autocommit(False).
_MANUAL_LEAK = [Manual((Ctx(0, (Create("counter", 0),)), Create("counter", 1)))]
# executemany in autocommit inside a context: the context went in a transaction of its own.
_EXECUTEMANY = [Ctx(0, (CreateMany("author", (("n0", ""), ("n1", "")), via="many"),))]
# Metadata jsonb cannot store made every write in the context fail.
_HOSTILE = [
    Ctx("nul\x00", (Create("author", "", "n0"), Ctx("lone\ud800", (Create("document", ""),))))
]
# A write after a read in one string got no context.
_MULTI = [Create("document", ""), Ctx(0, (Update("document", 0, "b", "multi"),))]


# A context whose only statement was a fast delete that matched nothing: the DELETE was sent,
# so the context stays in effect for the rest of the transaction.
_FAST_DELETE_SENT = [
    Atomic(
        (
            Ctx(0, (DeleteWhere("code", (0,), "qs"),)),
            Create("author", "", "n1"),
        )
    )
]

# A context whose only statement deleted nothing through the ORM (no DELETE was sent).
_NOTHING_SENT = [
    Atomic(
        (
            Ctx(0, (DeleteWhere("author", ("",), "qs"),)),
            Create("author", "", "n0"),
        )
    )
]


@example(program=_FAST_DELETE_SENT)
@example(program=_NOTHING_SENT)
@example(program=_SAVEPOINT_LEAK)
@example(program=_MANUAL_LEAK)
@example(program=_EXECUTEMANY)
@example(program=_MULTI)
@example(program=_HOSTILE)
@given(program=programs)
def test_replay_invariant(program: list[Op]) -> None:
    run_program(program)


def test_the_check_sees_a_phantom_event() -> None:
    """An event the program did not cause (here a manual one) fails the check."""
    runner = Runner()
    _reset()
    Create("author", "", "n0").run(runner)
    check(runner)
    pghistory_core.create_event(Author.objects.get(), label="snapshot")
    with pytest.raises(AssertionError, match="events of author"):
        check(runner)


class TestOracleDetectsBrokenTriggers:
    """Every check above can fail: run programs with an event trigger ignored."""

    PROGRAMS: ClassVar[dict[str, list[Op]]] = {
        "testapp.Author:insert_insert": [Create("author", "", "n0")],
        "testapp.Counter:update_update": [Create("counter", 0), Update("counter", 0, 1, "raw")],
        "testapp.Document:delete_delete": [Create("document", "b"), Delete("document", 0)],
        "testapp.Code:update_update_pk": [Create("code", 0, "a"), RekeyAll()],
        "testapp.Author:update_update": [
            Create("author", "", "n0"),
            Upsert("author", (("n0", "x@example.com"), ("n1", ""))),
        ],
    }

    @pytest.mark.parametrize("uri", sorted(PROGRAMS))
    def test_ignored_trigger_is_caught(self, uri: str) -> None:
        import pgtrigger

        with pytest.raises(AssertionError, match="events of"), pgtrigger.ignore(uri):
            run_program(self.PROGRAMS[uri])
