"""Events / MiddlewareEvents: one stream over all event models."""

from decimal import Decimal

import pgtrigger
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import pghistory_core
from pghistory_core import guards
from pghistory_core.models import Events, MiddlewareEvents
from tests.testapp.models import Author, AuthorEvent, Book, BookEvent

pytestmark = pytest.mark.django_db


def test_stream_across_models_in_global_order(book):
    book.price = Decimal("5.00")
    book.save()
    rows = list(Events.objects.order_by("pgh_id").values_list("pgh_model", "pgh_label"))
    assert rows == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.BookEvent", "insert"),
        ("testapp.BookPriceEvent", "price_changed"),
        ("testapp.BookEvent", "update"),
    ]


def test_data_and_diff(book):
    book.price = Decimal("5.00")
    book.title = "New"
    book.save()
    first, second = Events.objects.across(BookEvent).order_by("pgh_id")
    assert first.pgh_diff is None
    # Keyed by column, as in django-pghistory 3.x (Book.title is stored in "book_title").
    assert first.pgh_data["book_title"] == "The Dispossessed"
    assert first.pgh_data["author_id"] == book.author_id
    assert first.pgh_obj_model == "testapp.Book"
    assert first.pgh_obj_id == str(book.pk)
    assert second.pgh_diff == {
        "book_title": ["The Dispossessed", "New"],
        "price": [9.99, 5.0],
        "updated_at": second.pgh_diff["updated_at"],
    }
    # by_attname(): keyed by the tracked model's attribute names.
    first, second = Events.objects.by_attname().across(BookEvent).order_by("pgh_id")
    assert first.pgh_data["title"] == "The Dispossessed"
    assert set(second.pgh_diff) == {"title", "price", "updated_at"}


def test_across_accepts_labels_and_rejects_unknown(book):
    assert set(
        Events.objects.across("testapp.AuthorEvent").values_list("pgh_model", flat=True)
    ) == {"testapp.AuthorEvent"}
    with pytest.raises(ValueError, match="not an installed event model"):
        Events.objects.across("testapp.Book")


def test_tracks_and_references(book):
    other = Book.objects.create(title="Other", author=Author.objects.create(name="B"))
    tracked = Events.objects.tracks(book).values_list("pgh_model", flat=True)
    assert list(tracked) == ["testapp.BookEvent"]
    referencing = set(Events.objects.references(book.author).values_list("pgh_model", "pgh_obj_id"))
    assert referencing == {
        ("testapp.AuthorEvent", str(book.author_id)),
        ("testapp.BookEvent", str(book.pk)),
    }
    assert ("testapp.BookEvent", str(other.pk)) not in referencing


def test_filters_ordering_and_limits_compose(book):
    for price in ("1", "2", "3"):
        Book.objects.filter(pk=book.pk).update(price=Decimal(price))
    page = list(Events.objects.tracks(book).across(BookEvent).order_by("-pgh_id")[:2])
    assert [e.pgh_data["price"] for e in page] == [3, 2]
    older = Events.objects.tracks(book).across(BookEvent).filter(pgh_id__lt=page[-1].pgh_id)
    assert [e.pgh_label for e in older.order_by("-pgh_id")] == ["update", "insert"]
    # the price-only model has no predecessor for its first event: 3 + 2 diffs
    assert Events.objects.filter(pgh_diff__has_key="price").count() == 5
    assert Events.objects.count() == 8


def test_context_filters_and_middleware_events(user):
    Author.objects.create(name="no ctx")
    with pghistory_core.context(user=user.pk, url="/shop/"):
        Author.objects.create(name="ctx")
    event = MiddlewareEvents.objects.get(user=user)
    assert event.url == "/shop/"
    assert event.pgh_context["url"] == "/shop/"
    assert Events.objects.filter(pgh_context_metadata__user=user.pk).count() == 1
    assert MiddlewareEvents.objects.filter(user__isnull=True).count() == 1


def test_order_by_and_limit_are_pushed_into_each_branch(book):
    Author.objects.bulk_create([Author(name=f"x{i}") for i in range(200)])
    with CaptureQueriesContext(connection) as queries:
        list(Events.objects.order_by("-pgh_id")[:5])
    sql = queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Merge Append" in plan, plan
    assert "Sort" not in plan.split("Merge Append")[1].split("\n")[0]


def test_empty_selection_returns_nothing():
    assert list(Events.objects.tracks(Author(pk=1234))) == []
    assert Events.objects.across().count() == 0


def test_event_models_of_the_stream():
    from pghistory_core.registry import event_models

    labels = {m._meta.label for m in event_models()}
    assert {"testapp.AuthorEvent", "testapp.BookEvent", "testapp.BookPriceEvent"} <= labels
    assert AuthorEvent in event_models()


def test_middleware_events_tolerate_a_user_that_is_not_a_key():
    with pghistory_core.context(user="bob"):
        Author.objects.create(name="by name")
    with pghistory_core.context(user=""):
        Author.objects.create(name="empty")
    assert list(MiddlewareEvents.objects.values_list("user_id", flat=True)) == [None, None]


def test_context_matches_is_pushed_into_each_branch(user):
    from tests.testapp.models import Document

    Author.objects.create(name="none")  # first: a closed context lasts until the commit
    with pghistory_core.context(user=user.pk, request_id="r1"):
        Author.objects.create(name="one")
        Document.objects.create(body="json context")
    with pghistory_core.context(user=user.pk, request_id="r2"):
        Author.objects.create(name="two")
    by_user = Events.objects.context_matches({"user": user.pk})
    assert by_user.count() == 3
    first = Events.objects.context_matches({"request_id": "r1"})
    assert sorted(first.values_list("pgh_model", flat=True)) == [
        "testapp.AuthorEvent",
        "testapp.DocumentEvent",
    ]
    either = Events.objects.context_matches({"request_id": "r1"}, {"request_id": "r2"})
    assert either.count() == 3
    both = Events.objects.context_matches({"user": user.pk}).context_matches({"request_id": "r2"})
    assert [e.pgh_data["name"] for e in both] == ["two"]
    assert not Events.objects.context_matches({"user": "nobody"}).exists()
    with pytest.raises(ValueError, match="non-empty dicts"):
        Events.objects.context_matches({})


def test_context_matches_uses_the_metadata_index(user):
    with pghistory_core.context(user=user.pk):
        Author.objects.create(name="x")
    sql = str(Events.objects.context_matches({"user": user.pk}).query)
    assert "@>" in sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM pghistory_core_context WHERE metadata @> %s::jsonb",
            ['{"user": 1}'],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "pghistory_core_ctx_metadata" in plan


@pytest.mark.parametrize(
    ("probe_limit", "walk_recent", "walk"),
    [
        (0, 2000, False),
        (1, 2000, False),
        (300, 2000, False),
        (1, 0, False),
        (1, 2000, True),
        (1, 0, True),
        (300, 2000, True),
        (300, 0, True),
    ],
)
def test_context_matches_same_rows_whatever_the_strategy(
    user, monkeypatch, probe_limit, walk_recent, walk
):
    from pghistory_core.aggregate.filters import ContextFilter

    monkeypatch.setattr(ContextFilter, "PROBE_LIMIT", probe_limit)
    monkeypatch.setattr(ContextFilter, "WALK_RECENT", walk_recent)
    monkeypatch.setattr(ContextFilter, "WALK_MIN", 1)
    monkeypatch.setattr(ContextFilter, "WALK_SHARE", 0.0 if walk else 2.0)
    from tests.testapp.models import Document

    # Before any context: one closed in this (test) transaction would stay in effect.
    Author.objects.create(name="no context")
    for index in range(3):
        with pghistory_core.context(user=user.pk, request_id=f"r{index}"):
            Author.objects.create(name=f"a{index}")
    with pghistory_core.context(user=user.pk):
        Document.objects.create(body="d")  # a denormalised (JSON) context
    with pghistory_core.context(user=user.pk + 1):
        Author.objects.create(name="another user")
        Document.objects.create(body="another user's")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pghistory_core_context")  # the share needs the row estimate
    queryset = Events.objects.context_matches({"user": user.pk}).order_by("-pgh_id")
    names = [e.pgh_data.get("name", e.pgh_data.get("body")) for e in queryset]
    assert names == ["d", "a2", "a1", "a0"]
    queryset = queryset.across(AuthorEvent)
    assert [e.pgh_data["name"] for e in queryset] == ["a2", "a1", "a0"]
    sql = str(queryset.query)
    # See ContextFilter: a user with enough of the newest contexts is tested above the union
    # (the newest contexts' ids, older ones looked up); otherwise up to PROBE_LIMIT matches,
    # their ids go to each branch (a rare user); beyond, the test above the union checks the ids
    # of a subquery.
    busy_now = walk and walk_recent > 0  # WALK_SHARE 0, WALK_MIN 1: any recent match
    many = not busy_now and probe_limit < 3
    assert (_RECENT_WALK in sql) == busy_now
    assert ('"pgh_context_id" = ANY(' in sql) == (not busy_now and not many)
    assert ("IN (SELECT _pgh_c.id" in sql) == many
    assert [e.pgh_data["name"] for e in queryset[:2]] == ["a2", "a1"]
    assert queryset.count() == 3


def _contexts(user_pk, count, when):
    from pghistory_core.models import Context

    created = Context.objects.bulk_create(
        [Context(metadata={"user": user_pk}) for _ in range(count)]
    )
    # Backdating a context is the owner's bypass (the suite's role owns the table).
    with pgtrigger.ignore(guards.CONTEXT_GUARD):
        Context.objects.filter(pk__in=[c.pk for c in created]).update(
            created_at=when, updated_at=when
        )


#: What the test above the union of a user busy now looks like (ContextFilter.outer_sql).
_RECENT_WALK = "THEN FALSE ELSE (SELECT"


def _tested_above_the_union(user_pk):
    sql = str(Events.objects.context_matches({"user": user_pk}).order_by("-pgh_id")[:50].query)
    return _RECENT_WALK in sql


def test_a_busy_recent_users_events_are_read_newest_first(monkeypatch):
    import datetime

    from django.utils import timezone

    from pghistory_core.aggregate.filters import ContextFilter

    monkeypatch.setattr(ContextFilter, "WALK_RECENT", 50)
    now = timezone.now()
    _contexts(1, 20, now - datetime.timedelta(days=400))  # a busy user long ago
    _contexts(0, 900, now - datetime.timedelta(days=30))  # everybody else, since then
    _contexts(2, 20, now)  # a busy user today: 20 of the newest 50 contexts
    _contexts(3, 1, now)  # a rare user: 1 of them (fewer than WALK_MIN)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pghistory_core_context")
    assert _tested_above_the_union(2)
    assert not _tested_above_the_union(3)
    # As busy, but 900 contexts began since: reading newest first would cross all their events.
    assert not _tested_above_the_union(1)
    monkeypatch.setattr(ContextFilter, "WALK_RECENT", 5000)  # 20 of all 941 contexts (2%)
    assert _tested_above_the_union(1)
    monkeypatch.setattr(ContextFilter, "WALK_SHARE", 0.05)  # ... but not 5%
    assert not _tested_above_the_union(1)


def test_a_dense_users_ids_are_tested_above_the_union(user, monkeypatch):
    # Not busy now (fewer than WALK_MIN of the newest contexts) but a large share of all of
    # them, one recent: their ids go above the union, which is read newest first.
    from pghistory_core.aggregate.filters import ContextFilter

    monkeypatch.setattr(ContextFilter, "WALK_MIN", 1000)
    monkeypatch.setattr(ContextFilter, "WALK_SHARE", 0.0)
    Author.objects.create(name="no context")
    for name, owner in [("a1", user.pk), ("b1", user.pk + 1), ("a2", user.pk)]:
        with pghistory_core.context(user=owner):
            Author.objects.create(name=name)
    queryset = Events.objects.context_matches({"user": user.pk}).order_by("-pgh_id")
    sql = str(queryset.query)
    assert "pgh_context_id = ANY(" in sql and '"pgh_context_id" = ANY(' not in sql
    assert _RECENT_WALK not in sql
    assert [e.pgh_data["name"] for e in queryset] == ["a2", "a1"]


def test_a_busy_users_events_of_older_contexts_are_looked_up(user, monkeypatch):
    # Above the union, the newest contexts are decided by their ids; older ones (and events
    # without a context) are not in those sets and take the lookup (or none).
    import datetime

    from django.utils import timezone

    from pghistory_core.aggregate.filters import ContextFilter
    from pghistory_core.models import Context

    monkeypatch.setattr(ContextFilter, "WALK_RECENT", 3)
    monkeypatch.setattr(ContextFilter, "WALK_MIN", 1)
    Author.objects.create(name="no context")
    for name, owner in [("a1", user.pk), ("b1", user.pk + 1)]:
        with pghistory_core.context(user=owner):
            Author.objects.create(name=name)
    older = list(Context.objects.values_list("pk", flat=True))
    with pgtrigger.ignore(guards.CONTEXT_GUARD):  # the owner's bypass (the suite's role)
        Context.objects.filter(pk__in=older).update(
            created_at=timezone.now() - datetime.timedelta(days=1)
        )
    for name, owner in [("a2", user.pk), ("b2", user.pk + 1), ("a3", user.pk)]:
        with pghistory_core.context(user=owner):
            Author.objects.create(name=name)
    queryset = Events.objects.context_matches({"user": user.pk}).order_by("-pgh_id")
    sql = str(queryset.query)
    assert _RECENT_WALK in sql
    assert [e.pgh_data["name"] for e in queryset] == ["a3", "a2", "a1"]
    mine = Events.objects.filter(pgh_context_metadata__user=user.pk).order_by("-pgh_id")
    assert [e.pgh_data["name"] for e in mine[:2]] == ["a3", "a2"]
    assert mine.count() == 3


@pytest.mark.parametrize("walk", [False, True])
def test_context_matches_inside_a_subquery(user, monkeypatch, walk):
    # Django names the aggregate U0 there; the tests above the union must name it the same way.
    from pghistory_core.aggregate.filters import ContextFilter

    monkeypatch.setattr(ContextFilter, "WALK_SHARE", 0.0 if walk else 2.0)
    monkeypatch.setattr(ContextFilter, "WALK_MIN", 1)
    Author.objects.create(name="not mine")
    with pghistory_core.context(user=user.pk):
        Author.objects.create(name="mine")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pghistory_core_context")
    inner = Events.objects.context_matches({"user": user.pk}).values("pgh_id")
    assert " IS TRUE" in str(inner.query) or not walk
    outer = Events.objects.filter(pgh_id__in=inner).order_by("-pgh_id")
    assert [e.pgh_data["name"] for e in outer] == ["mine"]
    with_diff = Events.objects.filter(pgh_id__in=inner.values("pgh_id")).values("pgh_diff")
    assert len(list(with_diff)) == 1


def _unrouted(**lookups):
    # The plain ORM filter, without the context_matches() narrowing of EventsQuerySet.filter.
    from django.db.models import QuerySet

    return QuerySet.filter(Events.objects.all(), **lookups)


def _names(queryset):
    return sorted(e.pgh_data["name"] for e in queryset)


def _routed(queryset):
    from pghistory_core.aggregate.filters import ContextFilter

    return any(isinstance(f, ContextFilter) for f in queryset.query.pgh_obj_filters)


@pytest.mark.parametrize(
    ("lookups", "expected", "routed"),
    [
        ({"pgh_context_metadata__user": 7}, ["int"], True),
        ({"pgh_context_metadata__user__exact": 7}, ["int"], True),
        ({"pgh_context_metadata__user": "7"}, ["str"], True),
        ({"pgh_context_metadata__actor__id": 7}, ["nested"], True),
        ({"pgh_context_metadata__flag": True}, ["int"], True),
        ({"pgh_context_metadata__user": 7, "pgh_context_metadata__flag": True}, ["int"], True),
        # Not containment: left to the ORM filter alone.
        ({"pgh_context_metadata__user": None}, ["json null"], False),
        ({"pgh_context_metadata__user__in": [7, "7"]}, ["int", "str"], False),
        ({"pgh_context_metadata__user__gt": 6}, ["array holding 7", "int"], False),
        ({"pgh_context_metadata__tags__0": 7}, ["list"], False),
        ({"pgh_context_metadata__user__isnull": True}, ["list", "nested", "no context"], False),
    ],
)
def test_metadata_filters_are_narrowed_by_context_matches(lookups, expected, routed):
    """``filter(pgh_context_metadata__…=value)`` adds ``context_matches()`` where that keeps the
    same rows: containment also matches a list holding the value, which the filter then drops."""
    Author.objects.create(name="no context")  # first: a closed context lasts until the commit
    for name, metadata in [
        ("int", {"user": 7, "flag": True}),
        ("str", {"user": "7"}),
        ("list", {"tags": [7, 8], "flag": False}),
        ("nested", {"actor": {"id": 7}}),
        ("json null", {"user": None}),
    ]:
        with pghistory_core.context(**metadata):
            Author.objects.create(name=name)
    with pghistory_core.context(user=[7, 8]):
        Author.objects.create(name="array holding 7")  # contains {"user": 7}, not equal to it

    queryset = Events.objects.filter(**lookups)
    assert _routed(queryset) == routed
    assert _names(queryset) == sorted(expected)
    assert _names(queryset) == _names(_unrouted(**lookups))


def testmetadata_document_of_conflicting_or_unusable_lookups():
    from pghistory_core.aggregate.filters import metadata_document

    assert metadata_document({"pgh_context_metadata__a__b": 1, "pgh_context_metadata__c": "x"}) == {
        "a": {"b": 1},
        "c": "x",
    }
    assert (
        metadata_document({"pgh_context_metadata__a": 1, "pgh_context_metadata__a__b": 2}) is None
    )
    assert (
        metadata_document({"pgh_context_metadata__a__b": 2, "pgh_context_metadata__a": 1}) is None
    )
    assert metadata_document({"pgh_context_metadata": {"a": 1}}) is None
    assert metadata_document({"pgh_context_metadata__a": [1]}) is None
    assert metadata_document({"pgh_context_metadata__a__contains": "x"}) is None
    assert metadata_document({"pgh_label": "insert"}) is None
