"""Settings of the demo shop.

``SECRET_KEY`` comes from ``DJANGO_SECRET_KEY``; without it, a key generated on first use is kept
in the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``, ``pghistory-admin/
demo-secret-key``), outside the repository. ``DEBUG`` is off unless ``DJANGO_DEBUG=1``, which only
the demo command (``python -m example_project``) sets.
"""

import os
import secrets
from pathlib import Path

import devdb


def _local_secret_key() -> str:
    """The demo's own key: generated once, then read back (readable by this user only)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = cache / "pghistory-admin" / "demo-secret-key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if not key:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # Created with 0600; a concurrent first start may overwrite it with another valid key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key)
    return key


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _local_secret_key()
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
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
