"""URLs of the benchmark project: the admin, for the page timings."""

from django.contrib import admin
from django.urls import path

from bench.admin import register

#: Why the admin pages are not measured (``None`` when they are).
ADMIN_UNAVAILABLE = register()

urlpatterns = [path("admin/", admin.site.urls)]
