"""Settings of the demo shop. Not for production: fixed secret key, DEBUG on by default."""

import os

import devdb

SECRET_KEY = "demo-only-not-a-secret"
DEBUG = os.environ.get("DJANGO_DEBUG", "1") != "0"
# The demo binds to the loopback interface; "testserver" lets Django's test Client in too.
ALLOWED_HOSTS = os.environ.get(
    "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver"
).split(",")
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

# DATABASE_URL, or an embedded PostgreSQL started on first use (see devdb.py).
DATABASES = devdb.databases(aliases=("default",))

INSTALLED_APPS = [
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
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication, so the recorded context knows the user.
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

# `seed` opens one context per simulated request; a command-wide context around it would
# swallow them all (nested contexts merge into the outer one).
PGHISTORY_IGNORED_COMMANDS = [
    "runserver",
    "testserver",
    "shell",
    "dbshell",
    "seed",
]
