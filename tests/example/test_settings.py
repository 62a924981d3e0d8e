"""The demo's settings: no secret key in the repository, DEBUG only for the demo command."""

import os
import subprocess
import sys
from pathlib import Path

import example_project

ROOT = Path(example_project.__file__).resolve().parent.parent

SHOW = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SECRET_KEY); print(settings.DEBUG)"
)
DEMO = "from example_project.__main__ import prepare_environment; prepare_environment(); " + SHOW


def settings_of(code, cache, **env):
    """``(SECRET_KEY, DEBUG)`` as a fresh process with ``env`` sees them."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    environ.update(XDG_CACHE_HOME=str(cache), DJANGO_SETTINGS_MODULE="example_project.settings")
    environ.update(env)
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key, debug = run.stdout.split()
    return key, debug == "True"


def test_secret_key_is_read_from_the_environment(tmp_path):
    assert settings_of(SHOW, tmp_path, DJANGO_SECRET_KEY="from-the-env")[0] == "from-the-env"
    assert not (tmp_path / "pghistory-admin").exists()


def test_a_generated_key_is_kept_in_the_cache_directory(tmp_path):
    first, _ = settings_of(SHOW, tmp_path)
    second, _ = settings_of(SHOW, tmp_path)
    path = tmp_path / "pghistory-admin" / "demo-secret-key"
    assert first == second == path.read_text()
    assert len(first) >= 50
    assert "demo-only" not in first
    assert path.stat().st_mode & 0o077 == 0
    # Another user (another cache) gets another key.
    assert settings_of(SHOW, tmp_path / "other")[0] != first
    # The source holds no key.
    assert first not in (ROOT / "example_project" / "settings.py").read_text()


def test_debug_is_off_unless_the_demo_runs(tmp_path):
    assert settings_of(SHOW, tmp_path)[1] is False
    assert settings_of(SHOW, tmp_path, DJANGO_DEBUG="0")[1] is False
    assert settings_of(DEMO, tmp_path)[1] is True
    # The demo's DEBUG can still be turned off (the e2e suite does).
    assert settings_of(DEMO, tmp_path, DJANGO_DEBUG="0")[1] is False
