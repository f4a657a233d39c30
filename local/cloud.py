"""The local cloud: moto with the project's fidelity patches, the GameLift fake, the stack created from template.yaml,
and the environment the function gets in it. The demo and the e2e suite bring it up through `local_cloud()`.

moto runs in a thread of this process (ThreadedMotoServer), so the demo can read what SNS delivered to an e-mail
subscriber from moto's backend. Both servers listen on 0.0.0.0 so a Lambda container (`sam local invoke`) reaches
them over the Docker bridge; this process reaches them through the loopback address.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import boto3

from local import gamelift_fake, moto_fidelity, sam_local
from local.account import AccountBuilder
from local.lambda_runtime import ACCOUNT, REGION
from local.stack import MotoStack, create_moto_stack

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # nosec B105 - moto's
# The function's Powertools settings as template.yaml's Globals give them; tracing off: no X-Ray daemon locally.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "spot-interruption-handler",
    "POWERTOOLS_METRICS_NAMESPACE": "SpotInterruptionHandler",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalCloud:
    session: boto3.session.Session
    endpoint: str  # moto, as this process reaches it
    gamelift_server: gamelift_fake.GameLiftServer
    gamelift_url: str  # the GameLift fake, as this process reaches it
    stack: MotoStack

    @property
    def gamelift(self) -> gamelift_fake.GameLiftState:
        return self.gamelift_server.state

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.gamelift_url if service == "gamelift" else self.endpoint)

    def builder(self) -> AccountBuilder:
        """The account builder on this cloud, with a VPC and two subnets."""
        return AccountBuilder(self.session, endpoint_url=self.endpoint).network()

    def function_environment(self, host_address: str | None = None) -> dict[str, str]:
        """The variables template.yaml declares for the function, with this stack's values, and the endpoints as the
        function reaches them: through `host_address` (the Docker bridge) from a container, else the loopback."""
        refs = sam_local.stack_refs(self.client("cloudformation"), self.stack.name)
        if host_address is None:
            return sam_local.function_environment(refs, self.endpoint, self.gamelift_url)
        moto_port = self.endpoint.rsplit(":", 1)[1]
        gamelift_port = self.gamelift_url.rsplit(":", 1)[1]
        return sam_local.function_environment(
            refs, f"http://{host_address}:{moto_port}", f"http://{host_address}:{gamelift_port}"
        )

    def in_process_environment(self) -> dict[str, str]:
        """What Lambda's environment holds for the function run in this process: the template's variables,
        credentials and region (Lambda's are the role's), and Powertools' settings."""
        return {
            **self.function_environment(),
            **POWERTOOLS_ENVIRONMENT,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": self.session.region_name,
            "AWS_DEFAULT_REGION": self.session.region_name,
        }


@contextlib.contextmanager
def local_cloud(stack_name: str, parameters: dict[str, str], region: str = REGION) -> Iterator[LocalCloud]:
    """Start moto and the GameLift fake, create the stack from template.yaml; stop both servers on the way out."""
    from moto.server import ThreadedMotoServer

    warnings.filterwarnings("ignore", module="moto")
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_fidelity.apply()
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="0.0.0.0", port=moto_port, verbose=False)  # nosec B104 - see docstring
    moto.start()
    gamelift_server = None
    try:
        gamelift_server, gamelift_url = gamelift_fake.start(
            host="0.0.0.0",  # nosec B104 - reached from a Lambda container over the Docker bridge
            state=gamelift_fake.GameLiftState(region=region, account=ACCOUNT),
        )
        endpoint = f"http://127.0.0.1:{moto_port}"
        session = boto3.session.Session(region_name=region, **CREDENTIALS)
        stack = create_moto_stack(session, stack_name, parameters, endpoint_url=endpoint)
        yield LocalCloud(session, endpoint, gamelift_server, gamelift_url, stack)
    finally:
        if gamelift_server is not None:
            gamelift_fake.stop(gamelift_server)
        moto.stop()
