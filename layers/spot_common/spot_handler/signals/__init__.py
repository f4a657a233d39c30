"""Signals: every EventBridge event the handler acts on, one module each, each turned into the same notice
(models.InterruptionNotice) at the edge.

A signal module defines `KIND` (its detail-type, source, label, whether it is an interruption and how long its
warning gives) and `read_detail(detail, problems)`, which reads only its own event's detail; the envelope (id, source,
time, account, region) is read once for all of them (common.py). A new signal is a new module here, listed in
SIGNALS, and its detail-type in the rule patterns of template.yaml and member/template.yaml
(docs/adding-a-signal.md).
"""

from __future__ import annotations

from typing import Any

from spot_handler.models import InterruptionNotice, NoticeKind
from spot_handler.signals import capacity_reservation, lifecycle_action, rebalance, spot_warning, state_change, sweep
from spot_handler.signals.common import Detail, from_json, notice_of

SIGNALS = (spot_warning, rebalance, capacity_reservation, lifecycle_action, state_change)
# The kinds a notice (or a look, or an incident record) may name: the signals', and the sweep's own (no event has it)
KINDS: dict[str, NoticeKind] = {signal.KIND.value: signal.KIND for signal in SIGNALS} | {
    sweep.MISSED.value: sweep.MISSED
}
_READERS = {signal.KIND: signal.read_detail for signal in SIGNALS}


def kind_of(detail_type: str) -> NoticeKind:
    """The signal of a detail-type; ValueError when the handler acts on no such signal."""
    try:
        return KINDS[detail_type]
    except KeyError:
        raise ValueError(f"not a signal this handler acts on: {detail_type!r}") from None


def parse_notice(event: Any) -> InterruptionNotice:
    """Turn an EventBridge event (dict or JSON text) into a notice, or raise MalformedNotice with the reason."""
    return parse_event(from_json(event))


def parse_event(event: Any) -> InterruptionNotice:
    """parse_notice of a value already decoded: text here is not decoded again (a record whose body is a JSON string
    holding a notice is one decoding away from a notice, and is not one)."""
    return notice_of(event, KINDS, _read)


def _read(kind: NoticeKind, detail: dict, problems: list[str]) -> Detail:
    return _READERS[kind](detail, problems)


__all__ = ["KINDS", "SIGNALS", "from_json", "kind_of", "parse_event", "parse_notice"]
