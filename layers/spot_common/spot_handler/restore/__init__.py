"""Restore: put back exactly what a drain took away, once the drain proved needless.

When an instance the handler drained is `running` again (a stop or hibernate interruption resumed: the state-change
notification), or when a rebalance-only drain was followed by no interruption within RestoreAfterRebalanceMinutes (a
look), the handler puts back what its drains took away (incidents/): the same registrations in each target group
(same target, port, Availability Zone), the Classic Load Balancer registrations, the ECS container instance ACTIVE;
and sends one alert, `restored`, listing them. Delays it lowered stay lowered: a target group's delay is shared by
every instance, and another may be draining with it.

It never restores an instance that is not `running`, that Auto Scaling is terminating, or whose last drain is newer
than the signal that would restore it (an interruption warning after the drain drains it again, and a `running`
notice from before that is history). A registration the user removed meanwhile is not put back: only target groups
and Classic Load Balancers the instance's tags (or its Auto Scaling group) still name, and that still exist, are
given their registrations back; a target group taken off the instance's tags, or deleted, is left as it is.
"""
