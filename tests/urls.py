from django.contrib import admin
from django.urls import path

from tests.testapp import views
from tests.testapp.admin import custom_site, restricted_site

urlpatterns = [
    path("admin/", admin.site.urls),
    path("custom-admin/", custom_site.urls),
    path("restricted-admin/", restricted_site.urls),
    path("books/<int:pk>/rename/", views.rename_book),
    path("books/<int:pk>/rename-async/", views.rename_book_async),
    path("accounts/reset/<str:uidb64>/<str:token>/", views.rename_book_with_token),
    path("books/<int:pk>/rename-late-auth/", views.rename_book_late_auth),
    path("books/<int:pk>/stream/", views.stream_renames),
    path("books/<int:pk>/stream-async/", views.stream_renames_async),
    path("concurrency/write/<str:label>/", views.concurrent_write),
    path("concurrency/write-async/<str:label>/", views.concurrent_write_async),
]
