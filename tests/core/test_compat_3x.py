"""django-pghistory 3.x code runs on pghistory_core with only the import name changed.

Each test exercises one documented 3.x behaviour (its public names, ``pgh_event_models``, the
default ``related_name`` of ``pgh_obj``, ``Events.pgh_context`` as a dict, proxies adding fields,
field arguments a class refuses, auto-created many-to-many through models, context, settings).
The models are in ``tests/testapp/models.py`` (the "3.x compatibility" section).
"""

import io
from decimal import Decimal
from unittest.mock import ANY

import pgtrigger
import pytest
from django.contrib.auth.models import Group
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django.test import override_settings

import pghistory_core
from pghistory_core import config
from pghistory_core.event_fields import copy_field
from pghistory_core.models import Context, Events, MiddlewareEvents
from pghistory_core.registry import event_models
from pghistory_core.triggers import triggers_for
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    BookEvent,
    BookPriceEvent,
    CompatEvents,
    Gadget,
    GadgetEvent,
    GadgetEventProxy,
    GadgetNamePriceEvent,
    GadgetPriceEvent,
    Gizmo,
    GizmoLabelsEvent,
    GizmoPartsEvent,
    GizmoPartsThrough,
    Label,
    Memo,
    MemoEvent,
    Review,
    ReviewEvent,
    UserGroupsEvent,
)

# pghistory.__all__ of django-pghistory 3.9.2.
NAMES_3X = [
    "AnyChange",
    "AllChange",
    "AnyDontChange",
    "AllDontChange",
    "Condition",
    "context",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "create_event",
    "create_event_model",
    "DEFAULT",
    "Delete",
    "DeleteEvent",
    "F",
    "Field",
    "ForeignKey",
    "Insert",
    "InsertEvent",
    "ManualEvent",
    "New",
    "ObjForeignKey",
    "Old",
    "ProxyField",
    "Q",
    "RelatedField",
    "Row",
    "RowEvent",
    "Statement",
    "track",
    "Tracker",
    "Update",
    "UpdateEvent",
    "__version__",
]


def _pg_trigger_is_row_level(table, name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgtype & 1 = 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname ~ %s",
            [table, f"^pgtrigger_{name}_[0-9a-f]{{5}}$"],
        )
        return [row[0] for row in cursor.fetchall()]


# 1. The public names -----------------------------------------------------------------------


def test_every_name_of_3x_pghistory_all_is_exported():
    missing = [name for name in NAMES_3X if not hasattr(pghistory_core, name)]
    assert missing == []
    assert set(NAMES_3X) <= set(pghistory_core.__all__)
    for name in ("Row", "Statement", "Insert", "Update", "Delete"):
        assert getattr(pghistory_core, name) is getattr(pgtrigger, name)
    assert isinstance(pghistory_core.__version__, str) and pghistory_core.__version__
    assert pghistory_core.New == "NEW" and pghistory_core.Old == "OLD"


def test_3x_public_modules_import():
    from pghistory_core.constants import DEFAULT
    from pghistory_core.middleware import HistoryMiddleware
    from pghistory_core.models import Context as ContextModel
    from pghistory_core.models import Event, EventQuerySet, EventsQuerySet
    from pghistory_core.runtime import context

    assert DEFAULT is pghistory_core.DEFAULT
    assert context is pghistory_core.context
    assert hasattr(HistoryMiddleware, "get_context")
    assert ContextModel is Context
    assert Event._meta.abstract and EventsQuerySet and EventQuerySet
    assert config.level() is pgtrigger.Statement  # a documented difference (3.x: Row)
    from pghistory_core import utils
    from pghistory_core.models import PGHistoryJSONField

    assert utils.JSONField is PGHistoryJSONField is models.JSONField  # named by 3.x migrations
    assert utils.related_model(Book._meta.get_field("author")) is Author
    for name in ("Field", "RelatedField", "ForeignKey", "ObjForeignKey", "ContextForeignKey"):
        assert getattr(config, name) is getattr(pghistory_core, name)  # pghistory.config.<name>


@pytest.mark.django_db
def test_level_names_choose_the_trigger_level():
    # Gadget is tracked with level=pghistory_core.Row; the default here is statement-level.
    assert _pg_trigger_is_row_level("testapp_gadget", "insert_insert") == [True]
    assert _pg_trigger_is_row_level("testapp_gadget", "price_changed_update") == [False]
    abstract = pghistory_core.create_event_model(
        Author, pghistory_core.InsertEvent(), level=pghistory_core.Row
    )
    [trigger] = triggers_for(pghistory_core.InsertEvent(), abstract)
    assert trigger.level is pgtrigger.Row
    tracker = pghistory_core.InsertEvent(level=pghistory_core.Statement)
    assert triggers_for(tracker, abstract)[0].level is pgtrigger.Statement


# 2. pgh_event_models -----------------------------------------------------------------------


def test_pgh_event_models_maps_tracker_labels_to_event_models():
    assert Gadget.pgh_event_models == {
        "insert": GadgetEvent,
        "update": GadgetEvent,
        "price.changed": GadgetPriceEvent,
        "name_price.changed": GadgetNamePriceEvent,
    }
    assert Author.pgh_event_model is AuthorEvent
    with pytest.raises(
        ValueError, match=r"Gadget has more than one event model\. Use .*pgh_event_models"
    ):
        _ = Gadget.pgh_event_model
    # The proxy in testapp was declared with Gadget.pgh_event_models["insert"] as its base.
    assert GadgetEventProxy._meta.proxy and GadgetEventProxy._meta.concrete_model is GadgetEvent


@pytest.mark.django_db
def test_a_proxy_of_an_event_model_is_neither_tracked_twice_nor_aggregated_twice():
    assert GadgetEventProxy not in event_models()
    gadget = Gadget.objects.create(name="lamp")
    assert GadgetEvent.objects.filter(pgh_obj=gadget).count() == 1
    assert Events.objects.tracks(gadget).count() == 1


# 3. related_name of pgh_obj ----------------------------------------------------------------


@pytest.mark.django_db
def test_related_names_follow_the_tracked_fields_whatever_the_decorator_order():
    assert GadgetEvent._meta.get_field("pgh_obj").remote_field.related_name == "events"
    assert GadgetPriceEvent._meta.get_field("pgh_obj").remote_field.related_name == "price_events"
    assert (
        GadgetNamePriceEvent._meta.get_field("pgh_obj").remote_field.related_name
        == "name_price_events"
    )
    gadget = Gadget.objects.create(name="lamp", price=Decimal("1.00"))
    Gadget.objects.filter(pk=gadget.pk).update(price=Decimal("2.00"))
    assert list(gadget.events.values_list("pgh_label", "price")) == [
        ("insert", Decimal("1.00")),
        ("update", Decimal("2.00")),
    ]
    assert list(gadget.price_events.values_list("pgh_label", "price")) == [
        ("price.changed", Decimal("2.00"))
    ]
    assert gadget.name_price_events.get().name == "lamp"
    # Book's subset tracker is declared below the full one: book.events is the full model.
    assert Book.events.rel.related_model is BookEvent
    assert Book.price_events.rel.related_model is BookPriceEvent


def test_default_event_model_names_follow_3x():
    assert (GadgetPriceEvent.__name__, GadgetNamePriceEvent.__name__) == (
        "GadgetPriceEvent",
        "GadgetNamePriceEvent",
    )
    model = pghistory_core.create_event_model(Gadget, fields=["name"])
    assert model.__name__ == "GadgetNameEvent"
    assert model._meta.abstract


# 4. Events.pgh_context is the context's metadata -------------------------------------------


@pytest.mark.django_db
def test_events_pgh_context_is_the_metadata_dict():
    Author.objects.create(name="anonymous")
    with pghistory_core.context(user=5, url="/books/") as ctx:
        author = Author.objects.create(name="Le Guin")
    event = Events.objects.tracks(author).get()
    assert event.pgh_context == {"user": 5, "url": "/books/"}
    assert event.pgh_context["user"] == 5
    assert event.pgh_context_id == ctx.id
    assert event.pgh_slug == f"testapp.AuthorEvent:{event.pgh_id}"
    assert (event.pgh_obj_model, event.pgh_obj_id, event.pgh_model) == (
        "testapp.Author",
        str(author.pk),
        "testapp.AuthorEvent",
    )
    assert event.pgh_data["name"] == "Le Guin" and event.pgh_diff is None
    assert list(
        Events.objects.filter(pgh_context__url="/books/").values_list("pgh_id", flat=True)
    ) == [event.pgh_id]
    assert Events.objects.filter(pgh_context__isnull=True).count() == 1
    assert list(Events.no_objects.all()) == []
    assert Events.objects.values_list("pgh_context", flat=True).order_by("-pgh_id")[0] == {
        "user": 5,
        "url": "/books/",
    }


@pytest.mark.django_db
def test_events_values_have_3x_keys_with_data_keyed_by_column(user):
    author = Author.objects.create(name="Tove")
    review = Review.objects.create(score=1, author=author)
    Review.objects.filter(pk=review.pk).update(score=2)
    ids = list(ReviewEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True))
    common = {
        "pgh_model": "testapp.ReviewEvent",
        "pgh_created_at": ANY,
        "pgh_context_id": None,
        "pgh_context": None,
        "pgh_obj_model": "testapp.Review",
        "pgh_obj_id": str(review.pk),
    }
    data = {"id": review.pk, "author_id": author.pk, "checked_by_id": None}
    # Keys as 3.x's: the event table's columns ("review_score" for the field "score"), with
    # the field the event model declares itself; eleven keys (no pgh_context_metadata).
    assert list(Events.objects.references(review).order_by("pgh_id").values()) == [
        {
            **common,
            "pgh_slug": f"testapp.ReviewEvent:{ids[0]}",
            "pgh_id": ids[0],
            "pgh_label": "insert",
            "pgh_data": {**data, "review_score": 1},
            "pgh_diff": None,
        },
        {
            **common,
            "pgh_slug": f"testapp.ReviewEvent:{ids[1]}",
            "pgh_id": ids[1],
            "pgh_label": "update",
            "pgh_data": {**data, "review_score": 2},
            "pgh_diff": {"review_score": [1, 2]},
        },
    ]
    assert len(Events.objects.values_list()[0]) == 11
    # by_attname(): the tracked fields by attribute name (what the admin reads).
    assert list(
        Events.objects.by_attname().tracks(review).order_by("pgh_id").values("pgh_data", "pgh_diff")
    ) == [
        {"pgh_data": {"id": review.pk, "author_id": author.pk, "score": 1}, "pgh_diff": None},
        {
            "pgh_data": {"id": review.pk, "author_id": author.pk, "score": 2},
            "pgh_diff": {"score": [1, 2]},
        },
    ]
    # pgh_context_metadata still answers when asked for.
    assert Events.objects.values_list("pgh_context_metadata", flat=True)[0] is None
    # references() also follows the foreign keys the event model declares itself.
    assert not Events.objects.references(user).exists()
    ReviewEvent.objects.filter(pgh_id=ids[1]).update(checked_by=user)
    assert list(Events.objects.references(user).values_list("pgh_id", "pgh_diff")) == [
        (ids[1], {"review_score": [1, 2], "checked_by_id": [None, user.pk]})
    ]


@pytest.mark.django_db
def test_events_references_refuses_mixed_models_and_tracks():
    author = Author.objects.create(name="Tove")
    review = Review.objects.create(score=1, author=author)
    with pytest.raises(
        ValueError, match=r"^The objects passed to references\(\) are not of the same"
    ):
        Events.objects.references(author, review)
    with pytest.raises(ValueError, match=r"^Cannot use both tracks\(\) and references\(\)\.$"):
        Events.objects.references(author).tracks(author)
    with pytest.raises(ValueError, match="Cannot use both"):
        Events.objects.tracks(review).references(author)
    assert Events.objects.references([author, Author.objects.create(name="Jansson")]).count() == 3


@pytest.mark.django_db
def test_events_pgh_context_of_a_denormalised_context_and_its_default_id_field():
    with pghistory_core.context(note="json") as ctx:
        memo = Memo.objects.create(text="hi")
    event = MemoEvent.objects.get()
    assert (event.pgh_context, event.pgh_context_id) == ({"note": "json"}, ctx.id)
    assert Events.objects.tracks(memo).get().pgh_context == {"note": "json"}
    assert config.context_id_field() is not None


# 5. Proxies of Events (and of event models) adding fields ------------------------------------


def test_events_proxies_with_fields_pass_the_system_checks():
    errors = [*CompatEvents.check(), *MiddlewareEvents.check(), *GadgetEventProxy.check()]
    assert [e for e in errors if e.level >= checks.ERROR] == []
    out = io.StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.django_db
def test_events_proxy_fields_read_filter_and_join(user):
    Author.objects.create(name="without")
    with pghistory_core.context(user=user.pk, url="/shop/"):
        Author.objects.create(name="with")
    with pghistory_core.context(user="not-a-pk", url="/other/"):
        Author.objects.create(name="odd user")
    event = CompatEvents.objects.get(url="/shop/")
    assert (event.user, event.url, event.pgh_data["name"]) == (user, "/shop/", "with")
    assert list(
        CompatEvents.objects.filter(user=user).values_list("user__username", flat=True)
    ) == ["alice"]
    assert CompatEvents.objects.filter(user__isnull=True).count() == 2
    assert MiddlewareEvents.objects.get(user=user).url == "/shop/"
    assert list(MiddlewareEvents.objects.order_by("pgh_id").values_list("url", flat=True)) == [
        None,
        "/shop/",
        "/other/",
    ]


@pytest.mark.django_db
def test_events_proxy_fields_read_nested_keys_with_their_types():
    with pghistory_core.context(request={"secure": True, "ip": "10.0.0.1"}):
        Author.objects.create(name="nested")
    event = CompatEvents.objects.get()
    assert (event.secure, event.request) == (True, {"secure": True, "ip": "10.0.0.1"})
    assert CompatEvents.objects.filter(secure=True, request__ip="10.0.0.1").count() == 1


@pytest.mark.django_db
def test_proxy_of_an_event_model_reads_the_context_user_as_a_foreign_key(user):
    Gadget.objects.create(name="fan")
    with pghistory_core.context(user=user.pk):
        Gadget.objects.create(name="lamp")
    rows = GadgetEventProxy.objects.filter(pgh_label="insert").order_by("pgh_id")
    assert [(e.name, e.user) for e in rows] == [("fan", None), ("lamp", user)]
    assert list(
        GadgetEventProxy.objects.filter(user__username="alice").values_list("name", flat=True)
    ) == ["lamp"]


# 6. Field arguments a field class refuses ----------------------------------------------------


def test_file_and_image_fields_are_copied_without_primary_key():
    errors = GadgetEvent._meta.get_field("manual").check()
    assert [e.id for e in errors] == []
    image = models.ImageField(upload_to="photos/")
    image.set_attributes_from_name("photo")
    copied = copy_field(image, Gadget)
    assert isinstance(copied, models.ImageField)
    assert copied._check_primary_key() == []
    assert "primary_key" not in copied.deconstruct()[3]


def test_exclude_field_kwargs_setting_drops_arguments():
    with override_settings(
        PGHISTORY_EXCLUDE_FIELD_KWARGS={"django.db.models.DecimalField": ["decimal_places"]}
    ):
        model = pghistory_core.create_event_model(Gadget, fields=["price"], model_name="Tmp")
    assert model._meta.get_field("price").decimal_places is None
    assert model._meta.get_field("price").max_digits == 8
    with (
        override_settings(PGHISTORY_EXCLUDE_FIELD_KWARGS=["unique"]),
        pytest.raises(ImproperlyConfigured),
    ):
        config.exclude_field_kwargs()


def test_field_configurations_inherit_settings_and_honour_default():
    # PGHISTORY_FIELD applies to foreign keys too (3.x's configuration hierarchy) ...
    with override_settings(PGHISTORY_FIELD=pghistory_core.Field(null=True)):
        model = pghistory_core.create_event_model(Book, fields=["author"], model_name="Tmp")
    assert model._meta.get_field("author").null is True
    assert model._meta.get_field("author").db_constraint is False
    # ... and DEFAULT keeps the tracked field's own value instead of the override.
    with override_settings(
        PGHISTORY_FOREIGN_KEY_FIELD=pghistory_core.ForeignKey(db_constraint=pghistory_core.DEFAULT)
    ):
        model = pghistory_core.create_event_model(Book, fields=["author"], model_name="Tmp")
    assert model._meta.get_field("author").db_constraint is True


# 7. Many-to-many through models --------------------------------------------------------------


@pytest.mark.django_db
def test_an_auto_created_through_model_records_add_and_remove():
    gizmo = Gizmo.objects.create(name="g")
    red, blue = Label.objects.create(name="red"), Label.objects.create(name="blue")
    gizmo.labels.add(red, blue)
    gizmo.labels.remove(red)
    rows = GizmoLabelsEvent.objects.order_by("pgh_id").values_list("pgh_label", "gizmo", "label")
    assert list(rows) == [
        ("label.add", gizmo.pk, red.pk),
        ("label.add", gizmo.pk, blue.pk),
        ("label.remove", gizmo.pk, red.pk),
    ]
    assert GizmoLabelsEvent.pgh_tracked_model is Gizmo.labels.through


@pytest.mark.django_db
def test_a_proxy_of_a_third_party_through_model_records_add_and_remove(user):
    group = Group.objects.create(name="editors")
    user.groups.add(group)
    user.groups.remove(group)
    rows = UserGroupsEvent.objects.order_by("pgh_id").values_list("pgh_label", "user", "group")
    assert list(rows) == [("group.add", user.pk, group.pk), ("group.remove", user.pk, group.pk)]


@pytest.mark.django_db
def test_through_model_triggers_are_installed_by_migrations(capsys):
    call_command("pgtrigger", "ls")
    listing = capsys.readouterr().out
    for uri in (
        "testapp.GizmoLabelsThrough:label_add_insert",
        "testapp.GizmoLabelsThrough:label_remove_delete",
        "testapp.UserGroups:group_add_insert",
    ):
        line = next(line for line in listing.splitlines() if uri in line)
        assert "INSTALLED" in line and "UNINSTALLED" not in line, line


@pytest.mark.django_db
def test_default_obj_field_on_an_auto_created_through_model_references_its_proxy():
    gizmo, bolt = Gizmo.objects.create(name="g"), Label.objects.create(name="bolt")
    gizmo.parts.add(bolt)
    through = Gizmo.parts.through.objects.get()
    gizmo.parts.remove(bolt)
    rows = GizmoPartsEvent.objects.order_by("pgh_id").values_list("pgh_label", "pgh_obj_id")
    assert list(rows) == [("part.add", through.pk), ("part.remove", through.pk)]
    assert GizmoPartsEvent._meta.get_field("pgh_obj").related_model is GizmoPartsThrough
    assert Events.objects.tracks(through).count() == 2


def test_tracking_a_django_model_needs_an_app_label():
    with pytest.raises(ValueError, match="app_label"):
        pghistory_core.create_event_model(Group, pghistory_core.InsertEvent())


# Context -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_context_enter_nesting_and_calls_outside_with():
    pghistory_core.context(ignored=True)  # no open context: nothing to add to
    with pghistory_core.context(a=1) as outer:
        assert tuple(outer._fields) == ("id", "metadata")
        with pghistory_core.context(b=2) as inner:
            assert inner.id == outer.id
            pghistory_core.context(c=3)
            Author.objects.create(name="nested")
        assert outer.metadata == {"a": 1, "b": 2, "c": 3}
    assert Context.objects.get(pk=outer.id).metadata == {"a": 1, "b": 2, "c": 3}
    assert AuthorEvent.objects.get(name="nested").pgh_context_id == outer.id

    @pghistory_core.context(task="sync")
    def task():
        Author.objects.create(name="from task")

    task()
    assert AuthorEvent.objects.get(name="from task").pgh_context.metadata == {"task": "sync"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "event_model"),
    [(Author, AuthorEvent), (Gadget, GadgetEvent)],
    ids=["statement-level", "row-level"],
)
def test_a_context_closed_inside_a_transaction_still_applies_to_its_later_writes(
    model, event_model
):
    # 3.x's test_scope_inside_transaction: the test runs in a transaction.
    model.objects.create(name="before")
    with pghistory_core.context() as ctx:
        model.objects.create(name="inside")
    model.objects.create(name="after")
    events = event_model.objects.order_by("pgh_id")
    assert [(e.name, e.pgh_context_id) for e in events] == [
        ("before", None),
        ("inside", ctx.id),
        ("after", ctx.id),
    ]


@pytest.mark.django_db
def test_create_event_takes_a_denormalised_context_from_the_open_block_only():
    # 3.x's test_create_event_denormed_context: the test runs in one transaction.
    from pghistory_core import runtime

    assert not hasattr(runtime._tracker, "value")
    with pghistory_core.context(user=3) as ctx:
        memo = Memo.objects.create(text="x")
        assert runtime._tracker.value.id == ctx.id
        event = pghistory_core.create_event(memo, label="insert")
        assert (event.pgh_context, event.pgh_context_id) == ({"user": 3}, ctx.id)
    event = pghistory_core.create_event(memo, label="insert")
    assert (event.pgh_context, event.pgh_context_id) == (None, None)
    # A trigger still sees the closed context's settings until the transaction ends.
    memo.text = "y"
    memo.save()
    assert MemoEvent.objects.get(pgh_label="update").pgh_context == {"user": 3}


@pytest.mark.django_db
def test_create_event_and_revert_as_in_3x():
    author = Author.objects.create(name="Ursula")
    with pghistory_core.context(reason="manual"):
        event = pghistory_core.create_event(author, label="snapshot")
    assert (event.pgh_label, event.name, event.pgh_context.metadata) == (
        "snapshot",
        "Ursula",
        {"reason": "manual"},
    )
    with pytest.raises(
        ValueError, match=r"\"nope\" is not a registered tracker label for model Author\."
    ):
        pghistory_core.create_event(author, label="nope")
    assert event.can_revert
    assert not BookPriceEvent(pgh_obj_id=1).can_revert
    Author.objects.filter(pk=author.pk).update(name="Changed")
    assert event.revert().name == "Ursula"
    book = Book.objects.create(title="t", author=author, price=Decimal("1"))
    Book.objects.filter(pk=book.pk).update(price=Decimal("2"))
    with pytest.raises(RuntimeError, match="does not track"):
        book.price_events.get().revert()


# Conditions and trackers ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_statement_that_writes_no_event_leaves_no_context_row(book):
    # 3.x's test_conditional_statement_trigger; Book's update tracker is statement-level with
    # a condition (AnyChange), BookPriceEvent's too.
    with pghistory_core.context(step="nothing"):
        Book.objects.filter(pk=book.pk).update(price=book.price)  # no tracked field changes
        Book.objects.filter(pk=-1).update(price=1)  # no row
        book.save()  # only the auto_now field changes, which the condition excludes
    assert not Context.objects.exists()
    with pghistory_core.context(step="price") as ctx:
        Book.objects.filter(pk=book.pk).update(price=Decimal("1.50"))
    assert list(Context.objects.values_list("id", "metadata")) == [(ctx.id, {"step": "price"})]
    events = [BookEvent.objects.get(pgh_label="update"), BookPriceEvent.objects.get()]
    assert [e.pgh_context_id for e in events] == [ctx.id, ctx.id]


def test_pgtrigger_conditions_are_accepted_and_default_to_the_tracked_fields():
    model = pghistory_core.create_event_model(Gadget, fields=["price"], model_name="Tmp")
    [_pk_trigger, trigger] = triggers_for(
        pghistory_core.UpdateEvent("x", condition=pgtrigger.AnyChange()), model
    )
    assert '"price"' in trigger.condition_sql and '"name"' not in trigger.condition_sql
    [_, trigger] = triggers_for(
        pghistory_core.UpdateEvent("y", condition=pgtrigger.Q(new__name="x")), model
    )
    assert trigger.condition_sql == "NEW.\"name\" = 'x'"


def test_a_label_used_by_two_event_models_of_one_model_is_refused():
    from pghistory_core.event_model import _register_event_model

    twin = pghistory_core.create_event_model(
        Gadget, pghistory_core.InsertEvent(), model_name="Twin"
    )
    with pytest.raises(
        ValueError, match='Tracker with label "insert" already exists for a different event model'
    ):
        _register_event_model(twin)


@pytest.mark.django_db
def test_tracks_and_references_take_lists_and_querysets():
    first, second = Author.objects.create(name="a"), Author.objects.create(name="b")
    assert Events.objects.tracks([first, second]).count() == 2
    assert Events.objects.tracks(Author.objects.filter(pk=first.pk)).count() == 1
    assert Events.objects.references(first).count() == 1


@pytest.mark.django_db
def test_install_pgh_attach_context_func_and_its_setting():
    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION pghistory_core_context_json()")
    Context.install_pgh_attach_context_func()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('pghistory_core_context_json()') IS NOT NULL")
        assert cursor.fetchone()[0]
        cursor.execute("DROP FUNCTION pghistory_core_context_json()")
    with override_settings(PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE=True):
        from pghistory_core import sql

        sql.post_migrate(sender=None, using="default")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('pghistory_core_context_json()') IS NOT NULL")
        assert cursor.fetchone()[0]


def test_row_event_defaults_as_in_3x():
    model = pghistory_core.create_event_model(Gadget, fields=["price"], model_name="Tmp")
    # An update tracker without a condition records changes of the tracked fields only.
    plain = pghistory_core.RowEvent("x", operation=pghistory_core.Update, row=pghistory_core.New)
    assert '"price"' in triggers_for(plain, model)[-1].condition_sql
    assert pghistory_core.RowEvent("y", operation=pghistory_core.Insert).condition is None

    class PriceDrop(pghistory_core.UpdateEvent):
        label = "price.drop"
        condition = pghistory_core.Q(old__price__gt=pghistory_core.F("new__price"))

    assert triggers_for(PriceDrop(), model)[-1].condition_sql == 'OLD."price" > (NEW."price")'
    assert callable(PriceDrop().add_event_trigger)


def test_field_configuration_kwargs_follow_the_3x_hierarchy():
    with override_settings(
        PGHISTORY_FIELD=pghistory_core.Field(
            db_index=False, primary_key=True, unique_for_year=pghistory_core.DEFAULT
        ),
        PGHISTORY_RELATED_FIELD=pghistory_core.RelatedField(
            related_query_name=pghistory_core.DEFAULT, db_index=True
        ),
    ):
        # The related-field setting overrides the field setting; DEFAULT removes an argument.
        assert pghistory_core.RelatedField().kwargs == {
            "db_index": True,
            "primary_key": True,
            "unique": False,
            "unique_for_date": None,
            "unique_for_month": None,
            "related_name": "+",
        }
        assert (
            config.related_field().kwargs
            == pghistory_core.RelatedField(
                related_query_name=pghistory_core.DEFAULT, db_index=True
            ).kwargs
        )
    trackers = [pghistory_core.InsertEvent(), pghistory_core.DeleteEvent()]
    with override_settings(PGHISTORY_DEFAULT_TRACKERS=trackers):
        copies = config.default_trackers()
    assert [type(t) for t in copies] == [type(t) for t in trackers]
    assert all(copy is not original for copy, original in zip(copies, trackers, strict=True))


@pytest.mark.django_db
def test_copied_foreign_keys_are_indexed_by_default_as_in_3x():
    assert config.foreign_key_field().kwargs == {
        "db_index": True,
        "db_constraint": False,
        "on_delete": models.DO_NOTHING,
        "primary_key": False,
        "unique": False,
        "unique_for_date": None,
        "unique_for_month": None,
        "unique_for_year": None,
        "related_name": "+",
        "related_query_name": "+",
    }
    # PGHISTORY_FIELD's db_index=False is overridden by the foreign-key level's default...
    with override_settings(PGHISTORY_FIELD=pghistory_core.Field(db_index=False)):
        assert config.foreign_key_field().kwargs["db_index"] is True
    # ...and PGHISTORY_FOREIGN_KEY_FIELD can turn it off.
    with override_settings(PGHISTORY_FOREIGN_KEY_FIELD=pghistory_core.ForeignKey(db_index=False)):
        assert config.foreign_key_field().kwargs["db_index"] is False
    assert BookEvent._meta.get_field("author").db_index
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [BookEvent._meta.db_table, "%(author_id)"],
        )
        assert cursor.fetchone()[0] == 1


def test_the_aggregate_models_have_3x_plural_names():
    assert str(Events._meta.verbose_name_plural) == "events"
    assert str(MiddlewareEvents._meta.verbose_name_plural) == "middleware events"
