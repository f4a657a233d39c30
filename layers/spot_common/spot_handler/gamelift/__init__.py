"""GameLift checkpoint: stop new players reaching an interrupted instance and store what a game backend needs to
re-place its sessions (docs/gamelift-checkpoints.md).

- `checkpoint`: what is done per fleet and game server group, and when (the calls are in aws/gamelift.py);
- `items`: the checkpoint table's item layout (written by aws/checkpoints.py);
- `report`: what was checkpointed for one instance, and what its alert says about it.

Loaded on first use by steps/gamelift_checkpoint.py: fleets without GameLift never pay its import at cold start.
"""
