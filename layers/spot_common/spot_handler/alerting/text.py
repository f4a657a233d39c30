"""How alert text is made safe and short: what SNS, a mail reader and a chat client accept. One helper per idea."""

from __future__ import annotations

import textwrap
import unicodedata

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
EMAIL_WIDTH = 72


def printable(text: str) -> str:
    """The text without control characters (Unicode Cc) or lone surrogates (Cs), which SNS refuses in a subject and
    an attribute and a mail reader mangles: whitespace ones become a space, the others U+FFFD.

    Every string from a tag, a notice or an AWS answer passes through here on its way into the subject, the
    attributes or the text (line by line: the text's own line breaks are added after).
    """
    if text.isprintable():
        return text
    return "".join(_printable_char(ch) for ch in text)


def _printable_char(ch: str) -> str:
    if unicodedata.category(ch) not in ("Cc", "Cs"):
        return ch
    return " " if ch.isspace() else "\ufffd"


def wrap(line: str) -> list[str]:
    """Lines of at most EMAIL_WIDTH characters (read on a phone), continuation lines indented under their item."""
    if len(line) <= EMAIL_WIDTH or " " not in line.strip():
        return [line]  # short enough, or one long id that must stay whole
    indent = " " * (len(line) - len(line.lstrip(" -")))
    # Ids and ARNs are never split: a person copies them from the e-mail.
    wrapped = textwrap.wrap(
        line, EMAIL_WIDTH, subsequent_indent=indent + "  ", break_on_hyphens=False, break_long_words=False
    )
    return wrapped or [line]


def cleaned(value):
    """Every string of the document through printable(): subscribers get the same clean text as the e-mail."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {key: cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    return value


def bounded(value, listed: int):
    """Every list cut to its first `listed` items, with "<key>Omitted" beside it counting the rest."""
    if isinstance(value, list):
        return [bounded(item, listed) for item in value[:listed]]
    if not isinstance(value, dict):
        return value
    cut = {}
    for key, item in value.items():
        cut[key] = bounded(item, listed)
        if isinstance(item, list) and len(item) > listed:
            cut[f"{key}Omitted"] = len(item) - listed
    return cut


def clip(text: str, limit: int) -> str:
    """At most `limit` characters as SNS counts them (UTF-16 units: an emoji is two), with … when cut."""
    if units(text) <= limit:
        return text
    while text and units(text) > limit - 1:
        text = text[:-1]
    return text + "…"


def units(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
