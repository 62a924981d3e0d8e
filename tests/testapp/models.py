"""Models covering what the tracking layer must handle."""

import uuid

import pgtrigger
from django.contrib.auth.models import User
from django.db import models

import pghistory_core
from pghistory_core.models import Events


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
    pghistory_core.ManualEvent("snapshot"),
)
class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(condition=pghistory_core.AnyChange(exclude_auto=True)),
    pghistory_core.DeleteEvent(),
)
@pghistory_core.track(
    pghistory_core.UpdateEvent("price_changed", condition=pghistory_core.AnyChange("price")),
    fields=["price"],
    model_name="BookPriceEvent",
)
class Book(models.Model):
    STATUS_CHOICES = [("draft", "Draft"), ("published", "Published")]

    title = models.CharField(max_length=200, db_column="book_title")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="draft")
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    tags = models.ManyToManyField(Tag, through="BookTag", blank=True)

    def __str__(self) -> str:
        return self.title


@pghistory_core.track(pghistory_core.InsertEvent(), pghistory_core.DeleteEvent())
class BookTag(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
    level=pgtrigger.Row,
)
class Counter(models.Model):
    """Big-integer primary key, row-level triggers."""

    id = models.BigAutoField(primary_key=True)
    value = models.IntegerField(default=0)


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
    context_field=pghistory_core.ContextJSONField(),
    context_id_field=pghistory_core.ContextUUIDField(),
)
class Document(models.Model):
    """UUID primary key, denormalised JSON context."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    body = models.TextField()


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class Place(models.Model):
    name = models.CharField(max_length=100)


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class Restaurant(Place):
    """Multi-table inheritance: the event copies the parent's name too."""

    serves_pizza = models.BooleanField(default=False)


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class Code(models.Model):
    """A natural primary key that updates may change."""

    code = models.CharField(max_length=20, primary_key=True)
    value = models.IntegerField(default=0)


@pghistory_core.track(
    pghistory_core.UpdateEvent(
        "closed",
        condition=pghistory_core.Q(old__status="open", new__status="closed"),
    ),
    pghistory_core.UpdateEvent(
        "reassigned",
        condition=pghistory_core.AnyChange("assignee") & pghistory_core.AnyDontChange("status"),
        row=pghistory_core.Old,
    ),
    pghistory_core.RowEvent(
        "big_insert", operation=pgtrigger.Insert, condition=pghistory_core.Q(new__priority__gte=5)
    ),
    obj_field=pghistory_core.ObjForeignKey(related_name="ticket_events"),
    attrs={
        "user": pghistory_core.ProxyField(
            "pgh_context__metadata__user", models.IntegerField(null=True)
        )
    },
)
class Ticket(models.Model):
    status = models.CharField(max_length=10, default="open")
    assignee = models.CharField(max_length=50, blank=True)
    priority = models.IntegerField(default=0)


@pghistory_core.track(pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), append_only=True)
class Note(models.Model):
    text = models.TextField()


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
    pghistory_core.ManualEvent("audit"),
    append_only=True,
    hash_chain=True,
)
class LedgerEntry(models.Model):
    """Hash-chained history over columns whose text depends on session settings."""

    account = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    rate = models.FloatField(null=True)
    booked_on = models.DateField(null=True)
    booked_at = models.DateTimeField(null=True)
    data = models.JSONField(default=dict)
    blob = models.BinaryField(null=True)


# django-pghistory 3.x compatibility (tests/core/test_compat_3x.py): models written as a 3.x
# project writes them, with only the import name changed.


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), level=pghistory_core.Row
)
@pghistory_core.track(pghistory_core.UpdateEvent("price.changed"), fields=["price"])
@pghistory_core.track(pghistory_core.UpdateEvent("name_price.changed"), fields=["name", "price"])
class Gadget(models.Model):
    """A full tracker declared after two field-subset trackers; a file field."""

    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    manual = models.FileField(upload_to="manuals/", blank=True)


class GadgetEventProxy(Gadget.pgh_event_models["insert"]):  # type: ignore[name-defined,misc]
    """3.x's proxy of an event model reading the context's user as a foreign key."""

    user = pghistory_core.ProxyField(
        "pgh_context__metadata__user",
        models.ForeignKey("auth.User", on_delete=models.DO_NOTHING, null=True, related_name="+"),
    )

    class Meta:
        proxy = True


class Label(models.Model):
    name = models.CharField(max_length=50)


class Gizmo(models.Model):
    name = models.CharField(max_length=50)
    labels = models.ManyToManyField(Label, blank=True)
    parts = models.ManyToManyField(Label, blank=True, related_name="part_of")


# An auto-created through model of the project, tracked directly (3.x's documented call).
pghistory_core.track(
    pghistory_core.InsertEvent("label.add"),
    pghistory_core.DeleteEvent("label.remove"),
    obj_field=None,
)(Gizmo.labels.through)
# The same with the default obj_field: pgh_obj references the generated proxy of the through model.
pghistory_core.track(
    pghistory_core.InsertEvent("part.add"), pghistory_core.DeleteEvent("part.remove")
)(Gizmo.parts.through)


@pghistory_core.track(
    pghistory_core.InsertEvent("group.add"),
    pghistory_core.DeleteEvent("group.remove"),
    obj_field=None,
)
class UserGroups(User.groups.through):  # type: ignore[name-defined,misc]
    """A third-party through model, tracked through a proxy as 3.x documents."""

    class Meta:
        proxy = True


@pghistory_core.track(context_field=pghistory_core.ContextJSONField())
class Memo(models.Model):
    """A denormalised context: 3.x adds pgh_context_id by default."""

    text = models.TextField()


class Review(models.Model):
    """A field stored in a column of another name."""

    score = models.IntegerField(db_column="review_score")
    author = models.ForeignKey(Author, on_delete=models.CASCADE)


class ReviewEvent(
    pghistory_core.create_event_model(  # type: ignore[misc]
        Review, pghistory_core.InsertEvent(), pghistory_core.UpdateEvent()
    )
):
    """3.x's custom event model declaring a field of its own (not on the tracked model)."""

    checked_by = models.ForeignKey(
        User, null=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+"
    )


class CompatEvents(Events):
    """3.x's proxy of the aggregate: a plain field and a ProxyField read from the context."""

    user = models.ForeignKey("auth.User", on_delete=models.DO_NOTHING, null=True, related_name="+")
    url = pghistory_core.ProxyField("pgh_context__url", models.TextField(null=True))
    secure = pghistory_core.ProxyField(
        "pgh_context__request__secure", models.BooleanField(null=True)
    )
    request = pghistory_core.ProxyField("pgh_context__request", models.JSONField(null=True))

    class Meta:
        proxy = True


@pghistory_core.track()
class Measurement(models.Model):
    """A generated column: the event table computes its own (as 3.x)."""

    value = models.IntegerField()
    doubled = models.GeneratedField(
        expression=models.F("value") * 2, output_field=models.IntegerField(), db_persist=True
    )
