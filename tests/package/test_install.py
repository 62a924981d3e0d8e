"""The built distribution, and the README's "Use it in your project" followed word for word.

Builds the sdist and the wheel (``python -m build``: the wheel is built from the sdist), checks
what they carry, installs the wheel into a new virtualenv, generates a project with
``django-admin startproject``, applies the README's code blocks to it as they are written,
migrates a scratch database and loads the admin's history pages with Django's test client.

Run by ``python dev.py package`` (needs the package index for the virtualenv's dependencies).
"""

import csv
import email
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import uuid
import zipfile
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pghistory_core", "pghistory_admin")
SECTION = "## Use it in your project"
REPOSITORY = "https://github.com/pghistory-admin/pghistory-admin"


def run(command, cwd=None, env=None, timeout=600):
    # The test run's own settings module must not leak into the generated project.
    env = {k: v for k, v in (env or os.environ).items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", out, ROOT])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_sdist_carries_the_packages_and_no_development_files(dist):
    sdist, _ = dist
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {
        *PACKAGES,
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "PKG-INFO",
        "hatch_build.py",  # the build hook that keeps .gitignore out
    }
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def _source_files(package):
    for path in sorted((ROOT / package).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path.relative_to(ROOT).as_posix()


def test_wheel_ships_every_file_of_the_packages(dist):
    """Templates, static files, translations (locale/), migrations and py.typed included."""
    _, wheel = dist
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for package in PACKAGES:
        missing = [name for name in _source_files(package) if name not in names]
        assert missing == [], f"not in the wheel: {missing}"
        assert f"{package}/py.typed" in names
    assert "pghistory_admin/templates/pghistory_admin/audit_log.html" in names
    assert "pghistory_admin/static/pghistory_admin/htmx.min.js" in names
    assert not [
        name for name in names if name.split("/")[0] not in PACKAGES and ".dist-info/" not in name
    ]


def _metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        licenses = [n for n in archive.namelist() if ".dist-info/licenses/" in n]
        return email.message_from_bytes(archive.read(name)), licenses


def test_wheel_metadata_has_licence_urls_and_classifiers(dist):
    from trove_classifiers import classifiers as known

    metadata, licenses = _metadata(dist[1])
    assert metadata["License-Expression"] == "BSD-3-Clause AND 0BSD"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in licenses)
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL"))
    assert urls["Source"] == REPOSITORY
    assert urls["Issues"] == f"{REPOSITORY}/issues"
    classifiers = metadata.get_all("Classifier")
    assert set(classifiers) <= known, set(classifiers) - known
    for expected in (
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
    ):
        assert expected in classifiers
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"psycopg", "psycopg2"} <= extras


def test_long_description_links_work_away_from_the_repository(dist):
    metadata, _ = _metadata(dist[1])
    description = metadata.get_payload()
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert SECTION in description
    targets = re.findall(r"\]\(([^)\s]+)\)", description)
    assert targets, "the README has links"
    relative = [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]
    assert relative == []
    assert (
        f"{REPOSITORY.replace('github.com', 'raw.githubusercontent.com')}/main/docs/screenshots/audit-log.png"
        in targets
    )


# --- The README's install section, word for word -------------------------------------------


def readme_blocks():
    """``(language, first line, code)`` of each fenced block in the install section."""
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start + 1)]
    return re.findall(r"```(\w+)\n((?:.*)\n)((?:(?!```).*\n)*?)```", section)


# What the README leaves to the reader: their own app and database, and models beyond the
# tutorial's (a UUID key, a JSONField, a many-to-many, a primary key in a custom column).
PROJECT_SETTINGS = """
INSTALLED_APPS += ["polls"]
DATABASES = {databases!r}
"""

EXTRA_MODELS = """

class Tag(models.Model):
    code = models.CharField(primary_key=True, max_length=20, db_column="tag_code")
    label = models.CharField(max_length=50)

    def __str__(self):
        return self.label


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class Survey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=100)
    settings = models.JSONField(default=dict)
    tags = models.ManyToManyField(Tag, blank=True)

    def __str__(self):
        return self.title


@pghistory_core.track()
class Choice(models.Model):
    number = models.BigAutoField(primary_key=True, db_column="choice_no")
    question = models.ForeignKey(Question, on_delete=models.CASCADE)
    choice_text = models.CharField(max_length=200)
    votes = models.IntegerField(default=0)

    def __str__(self):
        return self.choice_text
"""

EXTRA_ADMIN = """

from .models import Choice, Survey, Tag

admin.site.register(Tag)


@admin.register(Survey)
class SurveyAdmin(HistoryAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Choice)
class ChoiceAdmin(HistoryAdminMixin, admin.ModelAdmin):
    pass
"""

# Runs inside the generated project: writes through the admin (so HistoryMiddleware records the
# user) and through the ORM, then loads the pages and reports what they showed.
PROVE = r"""
import json, os, sys
import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()

from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse

from polls.models import Choice, Question, Survey, Tag

setup_test_environment()  # lets the test client's "testserver" host in
client = Client()
assert client.login(username="admin", password="s3cret-pw")
add = client.post(
    reverse("admin:polls_question_add"),
    {"question_text": "What's new?", "pub_date_0": "2026-03-01", "pub_date_1": "12:00:00"},
)
question = Question.objects.get()
question.question_text = "What's up?"
question.save()
choice = Choice.objects.create(question=question, choice_text="Not much")
choice.votes = 3
choice.save()
survey = Survey.objects.create(title="Tea", settings={"kind": "sencha", "weight_g": 250})
survey.tags.add(Tag.objects.create(code="green", label="Green"))
survey.settings = {**survey.settings, "weight_g": 500}
survey.save()

def page(url, headers=None):
    response = client.get(url, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return {"status": response.status_code, "html": body.decode()}

log = reverse("admin:pghistory_admin_auditlog_changelist")
export = reverse("admin:pghistory_admin_auditlog_export")
print(json.dumps({
    "add_status": add.status_code,
    "audit_log": page(log),
    "by_user": page(export + "?user=admin"),
    "partial": page(log + "?model=polls.survey", {"HX-Request": "true"}),
    "export": page(export + "?model=polls.survey"),
    "question_history": page(reverse("admin:polls_question_history", args=[question.pk])),
    "survey_history": page(reverse("admin:polls_survey_history", args=[survey.pk])),
    "choice_history": page(reverse("admin:polls_choice_history", args=[choice.pk])),
}))
"""


@pytest.fixture
def scratch_database(django_db_blocker):
    name = f"readme_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    yield {"default": {**{k: connection.settings_dict[k] for k in keys}, "NAME": name}}
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_readme_install_section_works_in_a_fresh_project(dist, tmp_path, scratch_database):
    _, wheel = dist
    blocks = readme_blocks()
    shell = "".join(first + code for language, first, code in blocks if language == "sh")

    # pip install "pghistory-admin[psycopg]", from the wheel instead of the package index.
    assert 'pip install "pghistory-admin[psycopg]"' in shell
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "uv", "venv", "--python", sys.executable, venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "uv", "pip", "install", "--python", python, f"{wheel}[psycopg]"])

    # As the polls tutorial does: a "mysite" folder holding manage.py and the mysite package.
    run([venv / "bin" / "django-admin", "startproject", "mysite"], cwd=tmp_path)
    project = tmp_path / "mysite"
    run([python, "manage.py", "startapp", "polls"], cwd=project)

    applied = []
    for language, first, code in blocks:
        if language != "python":
            continue
        match = re.fullmatch(r"# (\S+\.py)(: add at the end)?\n", first)
        assert match, f"a README block without its file name: {first!r}"
        path = project / match[1]
        if match[2]:
            path.write_text(path.read_text() + "\n" + first + code)
        else:
            path.write_text(first + code)
        applied.append(match[1])
    assert applied == ["mysite/settings.py", "polls/models.py", "polls/admin.py"]

    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + PROJECT_SETTINGS.format(databases=scratch_database))
    models = project / "polls" / "models.py"
    models.write_text("import uuid\n\n" + models.read_text() + EXTRA_MODELS)
    admin = project / "polls" / "admin.py"
    admin.write_text(admin.read_text() + EXTRA_ADMIN)

    env = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": "s3cret-pw"}
    manage = [python, "manage.py"]
    check = run([*manage, "check", "--fail-level", "WARNING"], cwd=project, env=env)
    assert "no issues" in check
    for command in shell.splitlines():
        if command.startswith("python manage.py ") and "runserver" not in command:
            args = command.split("#")[0].split()[2:]
            if args == ["createsuperuser"]:
                args += ["--noinput", "--username", "admin", "--email", "admin@example.com"]
            run([*manage, *args], cwd=project, env=env)
    assert (project / "polls" / "migrations" / "0001_initial.py").exists()
    run([*manage, "makemigrations", "--check", "--dry-run"], cwd=project, env=env)

    (project / "prove.py").write_text(textwrap.dedent(PROVE))
    report = json.loads(run([python, "prove.py"], cwd=project, env=env))

    assert report["add_status"] == 302  # the admin's add form saved the question
    for key in [k for k in report if k != "add_status"]:
        assert report[key]["status"] == 200, (key, report[key]["html"][:2000])
    log = report["audit_log"]["html"]
    assert "What&#x27;s up?" in log and "Not much" in log and "Tea" in log
    # Created through the admin, so HistoryMiddleware recorded the user; changed through the
    # ORM outside any request, so that event has none.
    by_user = list(csv.reader(io.StringIO(report["by_user"]["html"])))
    assert len(by_user) == 2 and "What's new?" in ",".join(by_user[1])
    # HtmxMiddleware: an htmx request gets the table alone.
    assert "<html" not in report["partial"]["html"] and "Tea" in report["partial"]["html"]
    assert "sencha" in report["export"]["html"]
    assert "What&#x27;s new?" in report["question_history"]["html"]
    survey = report["survey_history"]["html"]
    assert "weight_g" in survey and "500" in survey
    assert "Not much" in report["choice_history"]["html"]
