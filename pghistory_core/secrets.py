"""Secret masking of context metadata, applied before the metadata reaches the database.

Three places can carry a secret into the recorded context: a value under a secret-looking key
(``context(api_token=…)``), a URL (``?token=…`` or a password-reset path) and a management
command's arguments (``--password hunter2``). ``mask_metadata`` masks all three; the runtime
calls it on every context before encoding it for the triggers, so nothing unmasked is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

from pghistory_core import config

__all__ = ["MASK", "mask_args", "mask_metadata", "mask_url"]

#: What a secret value is stored as.
MASK = "••••••"

_QUERY_PARAM = re.compile(r"(?P<name>[^&;=#]*)=(?P<value>[^&;#]*)")


def is_secret_name(name: str) -> bool:
    """Whether ``name`` (a key, query parameter or option) matches ``PGHISTORY_SECRET_NAMES``."""
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in config.secret_names())


def mask_url(url: str) -> str:
    """``url`` with secret query values and the secret parts of ``PGHISTORY_SECRET_PATHS`` masked.

    The rest of the URL is kept as it was written (no re-encoding).
    """
    path, question, rest = url.partition("?")
    query, hash_, fragment = rest.partition("#")
    for pattern in config.secret_paths():
        path = _mask_groups(re.compile(pattern), path)
    if question:
        query = _QUERY_PARAM.sub(_mask_param, query)
    return path + question + query + hash_ + fragment


def mask_args(
    args: Sequence[Any], secret_options: Iterable[str] = (), flags: Iterable[str] = ()
) -> list[Any]:
    """Command-line ``args`` with the values of secret options masked.

    An option is secret when its name matches ``PGHISTORY_SECRET_NAMES`` (``--password``,
    ``--api-token``) or is one of ``secret_options`` (e.g. a short alias ``-p``, found from the
    command's parser). Both ``--password VALUE`` and ``--password=VALUE`` are masked, and a
    short option's attached value (``-pVALUE``). Options in ``flags`` take no value: the
    argument after them is kept.
    """
    extra = set(secret_options)
    no_value = set(flags)
    masked: list[Any] = []
    hide_next = False
    for arg in args:
        if hide_next:
            hide_next = False
            # argparse reads an argument starting with "-" as the next option, not a value.
            if not (isinstance(arg, str) and arg.startswith("-")):
                masked.append(MASK)
                continue
        if not isinstance(arg, str) or not arg.startswith("-") or arg == "--":
            masked.append(arg)
            continue
        option, equals, _value = arg.partition("=")
        if option in no_value:
            masked.append(arg)
            continue
        if _is_secret_option(option, extra):
            if equals:
                masked.append(f"{option}={MASK}")
            else:
                masked.append(arg)
                hide_next = True
            continue
        short = next((s for s in extra if len(s) == 2 and arg.startswith(s) and len(arg) > 2), None)
        masked.append(f"{short}{MASK}" if short and not arg.startswith("--") else arg)
    return masked


def mask_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A copy of context ``metadata`` as it may be stored.

    Values under secret-looking keys become ``MASK``; ``url`` (and any key ending in ``url``) is
    masked by ``mask_url``; ``command_args`` by ``mask_args``.
    """
    masked: dict[str, Any] = {}
    for key, value in metadata.items():
        name = str(key)
        if value is not None and is_secret_name(name):
            masked[key] = MASK
        elif isinstance(value, str) and name.lower().endswith("url"):
            masked[key] = mask_url(value)
        elif name == "command_args" and isinstance(value, list | tuple):
            masked[key] = mask_args(value)
        else:
            masked[key] = value
    return masked


def _is_secret_option(option: str, extra: set[str]) -> bool:
    if option in extra:
        return True
    return option.startswith("--") and is_secret_name(option[2:].replace("-", "_"))


def _mask_param(match: re.Match[str]) -> str:
    name = match.group("name")
    # A name may be percent-encoded or use "+" for spaces; compare its plain form.
    plain = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), name)
    if is_secret_name(plain.replace("+", " ")):
        return f"{name}={MASK}"
    return match.group(0)


def _mask_groups(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with the groups of every match of ``pattern`` (the whole match if none) masked."""

    def replace(match: re.Match[str]) -> str:
        if not pattern.groups:
            return MASK
        whole, start = match.group(0), match.start()
        spans = sorted(match.span(i) for i in range(1, pattern.groups + 1) if match.start(i) >= 0)
        out, position = [], start
        for lo, hi in spans:
            if lo < position:  # nested group: already masked by its parent
                continue
            out.append(text[position:lo])
            out.append(MASK)
            position = hi
        out.append(text[position : match.end()])
        return "".join(out) if whole else whole

    return pattern.sub(replace, text)
