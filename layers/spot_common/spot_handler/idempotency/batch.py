"""The claims of one batch handled by several (account, region) groups: one claim transaction, settled once."""

from __future__ import annotations

import threading

from spot_handler.idempotency.claims import NoticeClaims
from spot_handler.idempotency.results import Claimable, ClaimResults


class BatchClaims:
    """The claims of one batch: claimed in one transaction (per 100 interruptions), however many (account, region)
    groups handle the batch (account_regions.handle_by_account_region).

    Each group waits for the claims with its own budget and reports what became of its notices; once every group has
    reported, settle() releases the claims of those not alerted, together. Each notice is settled by what its own
    group saw of its claim, as if the group had claimed alone. With one group this is exactly start, wait, settle.
    """

    def __init__(self, claims: NoticeClaims, notices: list[Claimable]):
        self._claims = claims
        self._pending = claims.start(notices)
        self._lock = threading.Lock()
        self._seen = ClaimResults()
        self._late: set[int] = set()  # id() of the late futures already kept
        self._alerted: list[Claimable] = []
        self._not_alerted: list[Claimable] = []

    @classmethod
    def start(cls, dynamodb, table_name: str, notices: list[Claimable]) -> BatchClaims:
        """Claim every interruption of `notices` in the background."""
        return cls(NoticeClaims.open(dynamodb, table_name), notices)

    def wait(self, budget, notices: list[Claimable] | None = None) -> ClaimResults:
        """The claims of `notices` (one group's; default: all), waiting at most the group's own budget."""
        only = None if notices is None else {n.claim_key for n in notices}
        return self._pending.wait(budget, only)

    def report(self, claimed: ClaimResults, alerted, not_alerted) -> None:
        """What one group saw of its notices' claims (`claimed`, from wait) and which of them were alerted."""
        keys = {n.claim_key for n in [*alerted, *not_alerted]}
        with self._lock:
            self._seen.states |= {k: v for k, v in claimed.states.items() if k in keys}
            self._seen.reasons |= {k: v for k, v in claimed.reasons.items() if k in keys}
            for keys_and_future in claimed.late:
                if id(keys_and_future[1]) not in self._late:
                    self._late.add(id(keys_and_future[1]))
                    self._seen.late.append(keys_and_future)
            self._alerted += alerted
            self._not_alerted += not_alerted

    def settle(self, until: float | None = None) -> None:
        """Release the claims of the notices not alerted, together, waiting for nothing past `until`."""
        self._claims.settle(self._seen, self._alerted, self._not_alerted, until)
