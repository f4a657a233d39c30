"""The emulated accounts of the rehearsal: LocalStack takes a 12-digit access key id as the account id."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from local.account import AccountBuilder

REGION = "us-east-2"
HUB_ACCOUNT = "123456789012"  # the account the sample events name; the stack is deployed here
MEMBER_ACCOUNT = "111111111111"  # hub and spoke: the second account, where member/template.yaml is deployed


@dataclass
class EmulatedAccount:
    """One account of the emulator, with its administrator's credentials. Only the rehearsal uses them (to deploy
    and seed); the hub's function reaches a member account through the member role."""

    account_id: str
    endpoint: str
    _builder: AccountBuilder | None = None

    @property
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=self.account_id, aws_secret_access_key="local", region_name=REGION
        )

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint)

    @property
    def builder(self) -> AccountBuilder:
        """One network (VPC, subnets) in the account for everything the rehearsal seeds there."""
        if self._builder is None:
            self._builder = AccountBuilder(self.session, endpoint_url=self.endpoint).network()
        return self._builder
