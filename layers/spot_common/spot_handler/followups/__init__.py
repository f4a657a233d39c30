"""Follow-ups: carry every interruption through to a known end without sleeping in the Lambda.

Lambda freezes the function once the handler returns: nothing it did not finish happens "in the background". What
must happen later is a *look*, a delayed message on the handler's own notice queue (SQS DelaySeconds) saying what to
check, and the handler acting on it when it comes back:

- a drain that failed or was not confirmed (a target group throttled past its retries, target health not read in
  time, the batch's instance lookup throttled) is drained again seconds later, re-planned from a fresh lookup,
  until it is confirmed or its deadline has passed (looks.RETRY_SECONDS, doubling);
- a terminate lifecycle action is completed once every drain of its instance is over (target groups out of
  `draining`, Classic connection draining over, the ECS container instance's service tasks gone), when the hook's
  time is about to run out, or when the instance is gone; heartbeats keep it alive meanwhile; when what drains
  cannot be read, it waits for the longest delay in force plus a margin, then completes and says so in an alert;
- an interruption whose drain may outlast its deadline is looked at just before it: what is still draining (or still
  failing) then is a second alert, `drain-unfinished`, of the incident's own signal type;
- a rebalance-only drain is looked at RestoreAfterRebalanceMinutes later (a chain of looks, 15 minutes at most
  each): put back (restore/) unless an interruption followed, with one alert, `restored`.

Modules: check.py (a look and its message format), schedule.py (sending looks), drained.py (what the drain steps
took out), state.py (what still drains), looks.py (what a look decides), batch.py (a batch of looks: claimed, then
done, failures sent again).
"""

from spot_handler.followups.batch import FollowUpContext, FollowUpReport, LookRecord, handle_follow_ups
from spot_handler.followups.check import DEADLINE, LIFECYCLE, RESTORE, Check, follow_up_body, is_follow_up, parse_checks
from spot_handler.followups.drained import Drained, what_drained
from spot_handler.followups.looks import Look
from spot_handler.followups.schedule import schedule

__all__ = [
    "DEADLINE",
    "LIFECYCLE",
    "RESTORE",
    "Check",
    "Drained",
    "FollowUpContext",
    "FollowUpReport",
    "Look",
    "LookRecord",
    "follow_up_body",
    "handle_follow_ups",
    "is_follow_up",
    "parse_checks",
    "schedule",
    "what_drained",
]
