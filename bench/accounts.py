"""Hub and spoke under a mass reclaim: the same fleet spread over several accounts (`make bench-org`).

    python -m bench --accounts 5     (1,000 instances over 5 accounts: the hub's and 4 members')

What is deployed, as a user with Spot fleets in N accounts would deploy it:
- ours: the hub stack in one of the N accounts (moto's default account, which runs its share of the fleet too: the
  hub acts there with the function's own role) and the member stack in the N-1 others: the member role, trusted by
  the hub handler's role, created in each member account through IAM (local/moto_fidelity.py makes moto's
  AssumeRole refuse a role that is missing or does not trust the caller). The hub's settings name the members
  (hub_account_id, member_account_ids); SNS, SQS and DynamoDB are the hub's. Each execution environment keeps its
  member-role credentials and clients (aws/clients.AccountClients), as the deployed function does.
- baseline: without a hub, the per-notice handler is deployed once in every account, with that account's own
  clients and alert topic, so it never calls AssumeRole. Its calls are counted in the account they are made in.

Every account gets an equal share of the fleet: its own target groups (instance- and ip-type), and of the mixed
fleet its own ECS clusters and Classic Load Balancers. Each notice names its instance's account (the event's
`account` and the ARN in `resources`), as forwarded events keep theirs. The bench server keeps ELB's token buckets
per account and Region, as AWS does, and counts every call in the account moto serves it in.

AssumeRole is bounded by member accounts x execution environments: an environment assumes a member's role once and
keeps the credentials (botocore refreshes them 10-15 minutes before they expire, which a run this short never
reaches). The hub's own account needs no AssumeRole. The run reports AssumeRole per member account as the server
counted them (retries included), the bound, and whether it held.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from spot_handler.settings import Settings

from bench.baseline import BlogSampleBaseline
from bench.ours import OursRun
from bench.scenario import Fleet, Scenario, register_all, seed_fleet, still_registered
from local.account import MEMBER_ROLE_NAME, AccountBuilder, account_session, create_member_role
from local.lambda_runtime import REGION

HUB_ACCOUNT = "123456789012"  # moto's default account: where the harness's own credentials land, like the sample's
HUB_ROLE_ARN = f"arn:aws:iam::{HUB_ACCOUNT}:role/bench-hub-handler"  # the member roles trust this role (its account)
MAX_ACCOUNTS = 10


def member_account(index: int) -> str:
    """The index-th member account (1-based): 100000000001, 100000000002, ..."""
    return f"{100_000_000_000 + index:012d}"


@dataclass
class Tenant:
    account: str
    builder: AccountBuilder
    fleet: Fleet


@dataclass
class Organization:
    hub: Tenant
    members: list[Tenant]
    # Filled by the runs: what the server counted, per design and account, and what ours' environments did.
    calls_by_account: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    assume_role_by_account: dict[str, int] = field(default_factory=dict)  # ours, per member account (server-side)
    out_of_service: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)  # design -> account ->
    # (instances the server saw taken out of service, instances, still registered after the run)
    _left: dict[str, int] = field(default_factory=dict)
    assume_role_baseline: int = 0
    assume_role_client_side: int = 0
    environments_used: int = 0

    @property
    def tenants(self) -> list[Tenant]:
        return [self.hub, *self.members]

    @property
    def fleet(self) -> Fleet:
        """Every account's members in one fleet (the harness times and shuffles them together); clusters and load
        balancer names are prefixed with their account, since every account has its own of the same name."""
        groups = {
            (name if name.startswith("arn:") else f"{t.account}/{name}"): kind
            for t in self.tenants
            for name, kind in t.fleet.target_groups.items()
        }
        return Fleet([m for t in self.tenants for m in t.fleet.members], groups, self.hub.fleet.topic_arn)

    def settings(self, settings: Settings) -> Settings:
        """The hub's settings: its own account, and the members it serves."""
        members = ",".join(t.account for t in self.members)
        return dataclasses.replace(settings, hub_account_id=self.hub.account, member_account_ids=members)

    def register_all(self) -> None:
        for tenant in self.tenants:
            register_all(tenant.builder, tenant.fleet)

    def still_registered(self) -> int:
        self._left = {t.account: still_registered(t.builder, t.fleet) for t in self.tenants}
        return sum(self._left.values())

    def baseline(self, endpoint_url: str) -> PerAccountBaseline:
        return PerAccountBaseline(self, endpoint_url)

    # ---- what the runs did ----------------------------------------------------------------------------------

    def record(self, design: str, stats: dict, ours: OursRun | None = None) -> None:
        self.calls_by_account[design] = stats.get("calls_by_account", {})
        removed = set(stats.get("deregistered", {}))
        self.out_of_service[design] = {
            t.account: (
                sum(1 for key in t.fleet.by_target() if key in removed),
                len(t.fleet.members),
                self._left.get(t.account, -1),
            )
            for t in self.tenants
        }
        assumed = {account: int(n) for account, n in stats.get("assume_role", {}).items()}
        if ours is None:
            self.assume_role_baseline = sum(assumed.values())
            return
        self.assume_role_by_account = assumed
        self.assume_role_client_side = ours.assume_role_calls
        self.environments_used = ours.environments  # each created serves at once

    @property
    def assume_roles(self) -> int:
        return sum(self.assume_role_by_account.values())

    @property
    def assume_role_bound(self) -> int:
        """Member accounts x execution environments used: each environment assumes each member's role once."""
        return len(self.members) * self.environments_used

    @property
    def bound_holds(self) -> bool:
        per_account = all(n <= self.environments_used for n in self.assume_role_by_account.values())
        known = set(self.assume_role_by_account) <= {t.account for t in self.members}
        return per_account and known and self.assume_roles <= self.assume_role_bound

    def report(self) -> list[str]:
        lines = [
            f"\n== Accounts: hub {self.hub.account} and {len(self.members)} members "
            f"({', '.join(t.account for t in self.members)}); instances: "
            + "/".join(str(len(t.fleet.members)) for t in self.tenants)
            + " (ours: hub and spoke; baseline: deployed in every account)"
        ]
        for design, by_account in self.calls_by_account.items():
            lines.append(f"  {design}: API calls per account (ELB calls in brackets; each account has its own buckets)")
            for tenant in self.tenants:
                calls = Counter(by_account.get(tenant.account, {}))
                elb = sum(n for op, n in calls.items() if op.startswith("elasticloadbalancing:"))
                role = "hub" if tenant is self.hub else "member"
                lines.append(f"    {tenant.account} ({role:<6}) {sum(calls.values()):>6}  ({elb} ELB)")
            drained = self.out_of_service.get(design, {})
            lines.append(
                "    out of service / instances (still registered after the run): "
                + ", ".join(f"{a} {done}/{n} ({left})" for a, (done, n, left) in drained.items())
            )
            others = sorted(set(by_account) - {t.account for t in self.tenants})
            for account in others:  # a call that reached no account of the scenario would be a bench bug
                lines.append(f"    {account} (other!) {sum(by_account[account].values()):>6}")
        per_account = ", ".join(f"{t.account} {self.assume_role_by_account.get(t.account, 0)}" for t in self.members)
        lines += [
            f"  AssumeRole (ours, as the server counted them): {self.assume_roles} in all; per member account: "
            f"{per_account}; the hub's own account needs none",
            f"    AssumeRole sent by the handler's AccountClients: {self.assume_role_client_side}; "
            f"baseline: {self.assume_role_baseline} (deployed in each account, it needs none)",
            f"    bound: {len(self.members)} member accounts x {self.environments_used} execution environments "
            f"(execution environments that served an invocation) = {self.assume_role_bound}: "
            + ("holds" if self.bound_holds else "EXCEEDED"),
        ]
        return lines


class PerAccountBaseline:
    """BASELINE deployed once per account: each notice goes to its own account's deployment (own clients, own
    topic), so no AssumeRole; the way a user without a hub runs the per-notice handler."""

    def __init__(self, org: Organization, endpoint_url: str):
        self.deployments = {
            t.account: BlogSampleBaseline(account_session(t.account, REGION), endpoint_url, t.fleet.topic_arn)
            for t in org.tenants
        }

    def handle(self, event: dict) -> str | None:
        return self.deployments[event["account"]].handle(event)


def seed_organization(hub: AccountBuilder, scenario: Scenario, accounts: int, endpoint_url: str) -> Organization:
    """The hub (the harness's own account, already networked) and accounts-1 members, an equal share of the fleet
    each, with the member role in every member account."""
    if not 2 <= accounts <= MAX_ACCOUNTS:
        raise ValueError(f"--accounts: 2 to {MAX_ACCOUNTS} (1 is the single-account run)")
    tenants = []
    for index in range(accounts):
        account = HUB_ACCOUNT if index == 0 else member_account(index)
        builder = hub
        if index:
            session = account_session(account, REGION)
            builder = AccountBuilder(session, endpoint_url=endpoint_url).network(subnet_prefix=20)
            create_member_role(session, HUB_ROLE_ARN, MEMBER_ROLE_NAME, endpoint_url=endpoint_url)
        fleet = seed_fleet(builder, share(scenario, accounts, index))
        fleet.members = [dataclasses.replace(m, account=account) for m in fleet.members]
        tenants.append(Tenant(account, builder, fleet))
    return Organization(tenants[0], tenants[1:])


def share(scenario: Scenario, parts: int, index: int) -> Scenario:
    """One account's share of the scenario: its instances of each kind, and target groups, clusters and load
    balancers of its own for them."""

    def part(total: int) -> int:
        per, extra = divmod(total, parts)
        return per + (1 if index < extra else 0)

    return dataclasses.replace(
        scenario,
        instances=part(scenario.instances),
        target_groups=max(1, part(scenario.target_groups)),
        ecs_instances=part(scenario.ecs_instances),
        ecs_clusters=max(1, part(scenario.ecs_clusters)),
        classic_instances=part(scenario.classic_instances),
        classic_load_balancers=max(1, part(scenario.classic_load_balancers)),
    )
