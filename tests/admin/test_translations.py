"""The German catalog shipped in pghistory_admin/locale/: complete, compiled, and used."""

import ast
import gettext
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import translation

import pghistory_admin

pytestmark = pytest.mark.django_db

LOCALE = Path(pghistory_admin.__file__).parent / "locale"


def po_entries(path):
    """``{msgid: msgstr}`` of a .po file (header excluded)."""
    entries, current, key = {}, {"msgid": [], "msgstr": []}, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith(("msgid ", "msgstr ")):
            key, _, rest = line.partition(" ")
            current[key] = [ast.literal_eval(rest)]
        elif line.startswith('"') and key:
            current[key].append(ast.literal_eval(line))
        elif not line.strip() and key:
            msgid = "".join(current["msgid"])
            if msgid:
                entries[msgid] = "".join(current["msgstr"])
            current, key = {"msgid": [], "msgstr": []}, None
    return entries


def test_every_message_is_translated_and_compiled():
    po = po_entries(LOCALE / "de" / "LC_MESSAGES" / "django.po")
    assert len(po) > 100
    assert [msgid for msgid, msgstr in po.items() if not msgstr] == []
    with (LOCALE / "de" / "LC_MESSAGES" / "django.mo").open("rb") as file:
        catalog = gettext.GNUTranslations(file)._catalog  # type: ignore[attr-defined]
    compiled = {key: value for key, value in catalog.items() if key}
    # The .mo is the .po compiled: recompile (compilemessages) after editing the .po.
    assert compiled == po


def test_placeholders_survive_translation():
    for msgid, msgstr in po_entries(LOCALE / "de" / "LC_MESSAGES" / "django.po").items():
        for placeholder in ("%(", "%s"):
            assert msgid.count(placeholder) == msgstr.count(placeholder), msgid


def test_pages_render_in_german(root_client, history):
    with override_settings(LANGUAGE_CODE="de"):
        html = root_client.get("/admin/pghistory_admin/auditlog/").content.decode()
        assert "<h1>Änderungsprotokoll</h1>" in html
        assert "Filter anwenden" in html
        assert ">geändert</span>" in html
        response = root_client.get("/admin/pghistory_admin/auditlog/", {"user": "niemand"})
        assert "Es gibt keinen Benutzer „niemand“" in response.content.decode()
    with translation.override("de"):
        assert translation.gettext("Compare the selected versions") == (
            "Die gewählten Versionen vergleichen"
        )
