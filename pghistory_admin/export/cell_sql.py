"""The cells of the export's rows as Postgres formats them: the SQL twins of ``cells``.

The context's shown keys and the rest of its metadata (masked where ``PGHISTORY_ADMIN_SECRET_FIELDS``
says so), the defused object id and labels, the ``created_at`` timestamp, ``jsonb``'s own text.
``export.copy_sql`` puts them into each chunk's ``COPY``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth import get_user_model

from pghistory_admin import conf
from pghistory_admin.conf import MASK
from pghistory_admin.export.cells import FORMULA_PREFIXES, SESSION_KEYS, SHOWN_KEYS, is_integer_key
from pghistory_core.meta import column, field
from pghistory_core.models import Event
from pghistory_core.sql_builders import literal, quote

#: Time zones without offset changes (their offset is written as a constant).
_UTC_ZONES = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/UCT", "UCT", "Universal", "Zulu"}


def masked_key_sql(key: str, sql: str) -> str:
    """SQL of a context cell, masked when its key holds secrets."""
    if not conf.is_secret_context_key(key):
        return sql
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE {literal(MASK)} END"


#: How many cells ``shown_cells`` makes.
SHOWN_CELLS = 4 + len(SESSION_KEYS)


def user_join_sql(metadata: str) -> str:
    """``LEFT JOIN`` of the user named by a context's ``user`` key, aliased ``_pgh_u`` (its
    name: ``username_sql()``). A join, not a subquery per context: Postgres can hash it."""
    user = f"({metadata} ->> 'user')"
    user_model = get_user_model()
    table = quote(user_model._meta.db_table)
    pk = f"_pgh_u.{quote(column(user_model, user_model._meta.pk.name))}"
    if is_integer_key(user_model):
        # On the primary key's index; the text must be the key's own (no "007" for 7).
        match = (
            f"{pk} = CASE WHEN {user} ~ '^-?[0-9]{{1,18}}$' THEN {user}::bigint END "
            f"AND {pk}::text = {user}"
        )
    else:
        match = f"{pk}::text = {user}"
    return f" LEFT JOIN {table} AS _pgh_u ON {match}"


def username_sql() -> str:
    """The user name of ``user_join_sql``'s user (NULL without one)."""
    user_model = get_user_model()
    return f"_pgh_u.{quote(column(user_model, user_model.USERNAME_FIELD))}::text"


def shown_cells(metadata: str, username: str) -> list[str]:
    """``user_id``, ``user``, ``url``, ``command`` and the database session's keys of a
    context's ``metadata`` (``jsonb``); ``username`` is the user name's column
    (``username_sql``, joined once per context below the cells)."""
    user = f"({metadata} ->> 'user')"
    args = f"({metadata} -> 'command_args')"
    command = (
        f"CASE WHEN ({metadata} ->> 'command') IS NOT NULL THEN concat_ws(' ', "
        f"{metadata} ->> 'command', CASE WHEN jsonb_typeof({args}) = 'array' THEN "
        f"(SELECT string_agg(COALESCE(_pgh_a.v, 'null'), ' ' ORDER BY _pgh_a.n) "
        f"FROM jsonb_array_elements_text({args}) WITH ORDINALITY AS _pgh_a(v, n)) END) END"
    )
    return [
        neutralise_sql(user),
        neutralise_sql(username),
        masked_key_sql("url", neutralise_sql(f"({metadata} ->> 'url')")),
        neutralise_sql(f"({command})"),
        *(neutralise_sql(f"({metadata} ->> {literal(key)})") for key in SESSION_KEYS),
    ]


def rest_sql(metadata: str, keys: list[str], secret_pattern: str | None) -> str:
    """The metadata without a column of its own, as a JSON object's text (NULL if empty)."""
    skipped = ", ".join(literal(key) for key in (*SHOWN_KEYS, *keys))
    value = "_pgh_e.value"
    if secret_pattern is not None:
        value = (
            f"CASE WHEN _pgh_e.key ~* {literal(secret_pattern)} AND _pgh_e.value <> 'null' "
            f"THEN to_jsonb({literal(MASK)}::text) ELSE _pgh_e.value END"
        )
    return (
        f"CASE WHEN jsonb_typeof({metadata}) = 'object' THEN "
        f"(SELECT jsonb_object_agg(_pgh_e.key, {value}) FROM jsonb_each({metadata}) AS _pgh_e "
        f"WHERE _pgh_e.key <> ALL (ARRAY[{skipped}]::text[]))::text END"
    )


def secret_key_regex() -> str | None:
    """``PGHISTORY_ADMIN_SECRET_FIELDS`` as one Postgres regular expression over key names."""
    patterns = [_fnmatch_regex(pattern) for pattern in conf.secret_fields()]
    return "^(" + "|".join(patterns) + ")$" if patterns else None


def _fnmatch_regex(pattern: str) -> str:
    """An ``fnmatch`` pattern as a Postgres regular expression (``*``, ``?``, ``[…]``)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            # A "]" just after "[" (or "[!") belongs to the set, as in fnmatch.
            end = pattern.find("]", i + 2 if pattern[i : i + 1] == "!" else i + 1)
            if end < 0:
                out.append("\\[")
                continue
            body = pattern[i:end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
    return "".join(out)


def jsonb_text(value: Any) -> str:
    """JSON as Postgres prints ``jsonb`` (``", "`` and ``": "`` separators, UTF-8)."""
    return json.dumps(value, ensure_ascii=False)


#: Code points of ``cells.FORMULA_PREFIXES``, as ``ascii()`` gives a text's first one.
_FORMULA_CODES = ", ".join(str(ord(prefix)) for prefix in FORMULA_PREFIXES)


def neutralise_sql(expression: str) -> str:
    # The SQL twin of ``neutralise``: a leading = + - @ tab or CR gets a quote. ``ascii()`` of
    # the first character costs less than a regular expression (NULL and '' stay as they are).
    return (
        f"CASE WHEN ascii({expression}) IN ({_FORMULA_CODES}) THEN '''' || {expression} "
        f"ELSE {expression} END"
    )


#: Object id column types whose text can start with a formula character only as a minus sign.
_INTEGER_TYPES = {"smallint", "integer", "bigint"}


def object_id_sql(event_model: type[Event], connection: Any) -> str:
    """The ``object_id`` cell, defused: an integer id by its sign, anything else by its text."""
    if event_model.pgh_has_obj:
        db_type = (field(event_model, "pgh_obj").db_type(connection) or "").strip().lower()
        if db_type in _INTEGER_TYPES:
            return "CASE WHEN _pgh_r._o < 0 THEN '''' || _pgh_r._o::text ELSE _pgh_r._o::text END"
    return neutralise_sql("_pgh_r._o::text")


def created_sql(expression: str, zone: str) -> str:
    # ISO 8601 in ``zone`` with its offset, like ``datetime.isoformat()``; the session's time zone
    # is left alone (it also renders the timestamps inside the JSON columns).
    if zone in _UTC_ZONES:
        return f"to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    local = f"({expression} AT TIME ZONE {literal(zone)})"
    offset = f"({local} - ({expression} AT TIME ZONE 'UTC'))"
    return (
        f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || CASE WHEN {offset} < interval '0' "
        f"THEN '-' || to_char(-{offset}, 'HH24:MI') ELSE '+' || to_char({offset}, 'HH24:MI') END"
    )
