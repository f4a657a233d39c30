"""Incidents, kept: what each interruption drained, for as long as it may matter (a week).

A drain is recorded durably with its instance (`IncidentTable`, one item per account and instance): each
registration it removed (target group, target id, port, Availability Zone for ip targets), each Classic Load
Balancer, the ECS container instance it set to DRAINING and its cluster, each delay it lowered, and which signal
drained it when. It is what a restore puts back (restore/) and what tells the reconciliation sweep an interruption was
handled (sweep/). Signals of one instance add to its item: a rebalance drain followed by a Spot warning keeps both
drains' registrations.
"""

from spot_handler.incidents.records import (
    DrainRecord,
    Registration,
    read_records,
    record_drains,
)

__all__ = ["DrainRecord", "Registration", "read_records", "record_drains"]
