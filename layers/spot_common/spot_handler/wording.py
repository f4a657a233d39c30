"""The few ways the handler writes things for people and machines: times, counts and lists. One helper per idea."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime | None, millis: bool = False) -> str | None:
    """A time as the alert and the checkpoint items write it: 2026-11-26T10:02:00Z (items: 2026-11-26T10:02:00.000Z)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds" if millis else "seconds").replace("+00:00", "Z")


def when(moment: datetime) -> str:
    """A time as the e-mail writes it: 2026-11-26 10:02:00 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def listing(items: list[str], listed: int) -> str:
    """The first `listed` items, and how many in all when some are left out."""
    if len(items) <= listed:
        return ", ".join(items)
    shown = ", ".join(items[:listed])
    return f"{shown}{', ' if shown else ''}and {len(items) - listed} more ({len(items)} in all)"
