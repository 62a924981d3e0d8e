"""Settings of the test suite: two database aliases on a real Postgres (see devdb.py)."""

import os

import devdb

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ALLOWED_HOSTS = ["*"]

# One test database per process: parallel runs (nox sessions, editors) sharing the embedded
# server must not drop each other's databases.
DATABASES = devdb.databases(aliases=("default", "other"), test_prefix=f"test_{os.getpid()}_")

INSTALLED_APPS = [
    # Above django.contrib.admin, as 3.x's "pghistory.admin": its templates add the event buttons.
    "pghistory_core.admin",
    "django.contrib.admin",
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
    "tests.testapp",
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

# Writes without a context record nothing here, as in django-pghistory 3.x, which most tests
# compare with; tests/core/test_attribution.py installs the attribution it tests.
PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES = False
