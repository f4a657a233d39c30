"""What a claim comes to: the thing claimed (Claimable), the state of its claim (Claim, ClaimResults), what became of
one transaction action (Written), and the claims still being sent (PendingClaims)."""

from __future__ import annotations

import enum
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Claimable(Protocol):
    """What can be claimed: an interruption (models.InterruptionNotice) or a follow-up look (followups.LookClaim)."""

    @property
    def claim_key(self) -> str: ...  # the same for every copy of the thing claimed
    @property
    def claim_data(self) -> dict[str, str]: ...  # the idempotency record's data (Powertools hashes its key from it)
    @property
    def deliveries(self) -> tuple[str, ...]: ...  # the SQS messages of this batch that carry it
    @property
    def instance_id(self) -> str: ...
    @property
    def notice_id(self) -> str: ...


class Claim(enum.Enum):
    OWNED = "owned"  # this invocation claimed the interruption: it checkpoints and alerts
    DONE = "done"  # already alerted: a duplicate, reported success without doing anything
    BUSY = "busy"  # another invocation is handling it now: delivered again later
    UNKNOWN = "unknown"  # the table did not answer: drained, but checkpoint and alert wait for a redelivery


class Written(NamedTuple):
    """What became of one action of a transaction."""

    done: bool = False
    existing: dict | None = None  # the record that made its condition fail
    error: str = ""  # why it was not written, when no condition decided it


@dataclass
class ClaimResults:
    states: dict[str, Claim] = field(default_factory=dict)  # interruption key -> state
    reasons: dict[str, str] = field(default_factory=dict)  # interruption key -> why it is not OWNED
    late: list[tuple[list[str], Future]] = field(default_factory=list)  # claims answered after the budget ran out

    def state(self, notice: Claimable) -> Claim:
        return self.states.get(notice.claim_key, Claim.OWNED)

    def owned(self, notice: Claimable) -> bool:
        return self.state(notice) is Claim.OWNED

    def done(self, notice: Claimable) -> bool:
        return self.state(notice) is Claim.DONE

    def acts(self, notice: Claimable) -> bool:
        """Whether this invocation does the interruption's once-only work: claimed here, or not known to be claimed
        anywhere (the table did not answer: the alert goes out within its bound, marked as possibly repeated)."""
        return self.state(notice) in (Claim.OWNED, Claim.UNKNOWN)

    def why_not_owned(self, notice: Claimable) -> str:
        return self.reasons.get(notice.claim_key, "")

    def merged(self, other: ClaimResults) -> ClaimResults:
        """These results and another set's (claims of other notices), as one."""
        return ClaimResults(
            states={**self.states, **other.states},
            reasons={**self.reasons, **other.reasons},
            late=[*self.late, *other.late],
        )


Verdict = tuple[Claim, str]  # what became of one interruption's claim, and why when it is not OWNED


class PendingClaims:
    """Claim transactions running in the background while the instances are looked up; each answers a Verdict per
    interruption key."""

    def __init__(self, transactions: list[tuple[list[str], Future]]):
        self._transactions = transactions

    def wait(self, budget, only: set[str] | None = None) -> ClaimResults:
        """What became of the claims, waiting at most the budget; with `only`, just the transactions holding one of
        those interruption keys (a group of a larger batch never spends its budget on another group's claims)."""
        results = ClaimResults()
        for keys, future in self._transactions:
            if only is not None and only.isdisjoint(keys):
                continue
            try:
                answers = future.result(timeout=budget.remaining())
            except FutureTimeout:
                results.late.append((keys, future))
                reason = f"idempotency claim did not finish within {budget.work_seconds:.0f} s"
                answers = dict.fromkeys(keys, (Claim.UNKNOWN, reason))
            for key, (state, reason) in answers.items():
                results.states[key] = state
                if reason:
                    results.reasons[key] = reason
        return results
