"""Admin registrations of the test models: the default site and a custom ``AdminSite``."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from pghistory_admin.admin import AuditLogAdmin, HistoryAdminMixin
from pghistory_admin.models import AuditLog
from tests.testapp.models import (
    Author,
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
