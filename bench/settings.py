"""Settings of the benchmark project: one process, one dedicated database, every library side by side.

No ``PGHISTORY_*`` setting is set: pghistory-admin and django-pghistory read the same prefix, so
both run with their defaults.
"""

import devdb

SECRET_KEY = "bench-only"  # noqa: S105 - a local benchmark, never deployed
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "bench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["*"]

# A database of its own (``<dbname>_bench``, created on the embedded server), never the test DB.
DATABASES = {"default": devdb.databases(aliases=("bench",))["bench"]}

INSTALLED_APPS = [
    # No autodiscovery: bench/urls.py registers the admin itself (see bench/admin.py).
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "pgtrigger",
    "pghistory_core",
    "pghistory_admin",
    # The peers exist only here, in the benchmark project.
    "pghistory",
    "simple_history",
    "bench",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pghistory_core.middleware.HistoryMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
