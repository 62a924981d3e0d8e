"""Settings of the throwaway project; ``SIDE=3x`` installs django-pghistory, else pghistory_core."""

import os

import devdb

SIDE = os.environ["SIDE"]
SECRET_KEY = "compat3x"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["*"]
DATABASES = devdb.databases(url=os.environ["DATABASE_URL"])
DATABASES["default"]["NAME"] = os.environ["COMPAT_DB"]

if SIDE == "3x":
    INSTALLED_APPS = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "pgtrigger",
        "pghistory",
        "shop",
    ]
else:
    # What the README tells a switching project to install instead of "pghistory".
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django_filters",
        "django_tables2",
        "django_htmx",
        "pgtrigger",
        "pghistory_core",
        "pghistory_core.from3x",
        "pghistory_admin",
        "shop",
    ]
    if os.environ.get("COMPAT_WITHOUT_FROM3X"):
        INSTALLED_APPS.remove("pghistory_core.from3x")
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
