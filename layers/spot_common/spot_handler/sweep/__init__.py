"""The reconciliation sweep: interruptions no signal reached the handler for.

EC2 sends its warnings, and its state changes, on a best-effort basis: some never arrive (the best-known peer's users
count far more Spot terminations in CloudTrail than warnings their handler saw). Every ReconcileEveryMinutes the
sweep asks EC2, in every account the handler serves (its own, and each member's, in the stack's region), for the
Spot instances it stopped or terminated for a Spot interruption (one DescribeInstances with filters). One that no
interruption of the handler covers (incidents/: no drain of it is open) is alerted once, outcome `missed` (its item
in the incident table says so, so the next sweeps say nothing), and what it left behind is drained: an ip target of
a terminated instance stays registered forever otherwise.
"""
