"""Admin registrations of the test models: the default site and a custom ``AdminSite``."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from pghistory_admin.admin import AuditLogAdmin, HistoryAdminMixin
from pghistory_admin.models import AuditLog
from pghistory_core.admin import EventModelAdmin
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    BookTag,
    Code,
    Counter,
    Document,
    Note,
    Place,
    Restaurant,
    Tag,
    Ticket,
)


class HistoryAdmin(HistoryAdminMixin, admin.ModelAdmin):
    pass


class BookTagInline(admin.TabularInline):
    model = BookTag
    extra = 0


class BookAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["title", "author", "history_link"]
    inlines = [BookTagInline]


TRACKED = [Author, Code, Counter, Document, Note, Place, Restaurant, Ticket]

for model in TRACKED:
    admin.site.register(model, HistoryAdmin)
admin.site.register(Book, BookAdmin)
admin.site.register(Tag)


class CustomSite(admin.AdminSite):
    site_header = "Custom admin"


custom_site = CustomSite(name="custom")
custom_site.register(AuditLog, AuditLogAdmin)
custom_site.register(Author, HistoryAdmin)
custom_site.register(Book, BookAdmin)
custom_site.register(get_user_model(), UserAdmin)
# 3.x's admin of one event model: a button on Author's change form (tests/core/test_compat_admin.py).
custom_site.register(AuthorEvent, EventModelAdmin)


class RestrictedBookAdmin(HistoryAdminMixin, admin.ModelAdmin):
    """What a revert must obey: read-only and excluded fields, object permissions, save_model."""

    readonly_fields = ["price"]
    exclude = ["status"]
    #: ``(pk, change)`` of every object saved through ``save_model``.
    saved: list = []

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.title == "Locked":
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        type(self).saved.append((obj.pk, change))
        super().save_model(request, obj, form, change)


restricted_site = admin.AdminSite(name="restricted")
restricted_site.register(AuditLog, AuditLogAdmin)
restricted_site.register(Book, RestrictedBookAdmin)
restricted_site.register(Author, HistoryAdmin)
