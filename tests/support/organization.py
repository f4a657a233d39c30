"""A hub and its member accounts as the organization tests meet them (issue 14): the accounts, a member's fleet, a
notice of a member account, one SQS batch to the hub, alerts by account and region."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import boto3
from spot_handler.aws import AccountClients

from local.account import AccountBuilder, account_session, create_member_role
from tests.support.events import load_event
from tests.support.followups import ACCOUNT, REGION, now_iso

HUB = ACCOUNT
MEMBER_A, MEMBER_B = "111111111111", "222222222222"
REFUSING = "333333333333"  # its member role trusts another account, not the hub
FOREIGN = "444444444444"  # neither the hub nor a member
OTHER_REGION = "eu-west-1"
HUB_ROLE_ARN = f"arn:aws:iam::{HUB}:role/hub-handler"
MEMBER_ROLE = "SpotInterruptionHandlerMember"


@dataclass
class Member:
    account: str
    region: str
    builder: AccountBuilder
    target_group: str
    victim: str
    bystander: str


def spot_notice(account_id: str, region: str, instance_id: str) -> dict:
    event = load_event("spot-interruption-instance-tg.json", instance_id)
    event.update(account=account_id, region=region, time=now_iso())
    return event


HUB_SETTINGS = {"hub_account_id": HUB, "member_account_ids": f"{MEMBER_A},{MEMBER_B},{REFUSING}"}


def invoke(account, accounts, *events, **settings):
    """One SQS batch of the events to the hub, with the member accounts' clients of its execution environment; each
    event a new message (a message id of its own), as EventBridge delivering it puts it on the queue."""
    batch = {"Records": [{"messageId": str(uuid.uuid4()), "body": json.dumps(e)} for e in events]}
    return account.invoke(batch, accounts=accounts, **{**HUB_SETTINGS, **settings})


def by_account_and_region(alerts):
    return {(a.attributes["account_id"], a.attributes["region"]): a for a in alerts}


def organization_with_session(account):
    """Two members' fleets and the hub's AccountClients, with the session its STS client comes from."""
    session = boto3.session.Session(region_name=REGION)
    members = {}
    for member in (MEMBER_A, MEMBER_B):
        create_member_role(account_session(member, REGION), HUB_ROLE_ARN)
        for region in (REGION, OTHER_REGION):
            builder = AccountBuilder(account_session(member, region)).network()
            arn = builder.target_group(f"web-{member[:3]}", "instance", delay=60)
            victim = builder.spot_instance("web-1", {"TargetGroupArn": arn}).instance_id
            builder.register(arn, [victim], ports=[80])
            members[(member, region)] = Member(member, region, builder, arn, victim, victim)
    accounts = AccountClients(account.clients, HUB, MEMBER_ROLE, session=session)
    return members, accounts, session
