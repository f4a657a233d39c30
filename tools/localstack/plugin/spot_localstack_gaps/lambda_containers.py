"""Three things LocalStack 4.14's community Lambda does not do here, done at its own hooks.

Gap 1 (use_local_runtime_image): creating a function runs `docker pull` of its runtime image, even when the image is
already on the machine; without a registry the pull fails and the function never becomes Active. An image that is
present locally (the offline stand-in from tools/offline_lambda/build_base_image.sh, or the real one) is marked as
pulled, which is the state a successful pull leaves; an absent image is still pulled by LocalStack.

Gap 2 (mount_layers_in_opt): the community edition does not put a function's layers into /opt (the paid edition
does), so the function would start without the spot_common layer. Each layer's unzipped content is copied into the
container's /opt before it starts, in the function's layer order (a later layer overwrites an earlier one's files,
as in Lambda).

Gap 3 (address_on_host_network): with LAMBDA_DOCKER_NETWORK=host (so that function containers and LocalStack talk
over loopback only) LocalStack asks Docker for the container's address on the "host" network, gets none ("Unable to
detect IP address ... Address cannot be empty") and gives up on the container. A container on the host network
shares the host's addresses: it is reached on 127.0.0.1. (One container per function at a time can bind the init's
port 9563 there; the rehearsal sends one notice.)
"""

from __future__ import annotations

import logging

from localstack.runtime import hooks
from localstack.services.lambda_ import hooks as lambda_hooks

LOG = logging.getLogger(__name__)


@lambda_hooks.prepare_docker_executor()
def use_local_runtime_image(function_version) -> None:
    from localstack.services.lambda_.invocation import docker_runtime_executor as executor
    from localstack.utils.container_utils.container_client import NoSuchImage

    if not function_version.config.runtime:
        return  # container-image functions: nothing of ours
    image = executor.resolver.get_image_for_runtime(function_version.config.runtime)
    platform = executor.docker_platform(function_version.config.architectures[0])
    try:
        executor.CONTAINER_CLIENT.inspect_image(image, pull=False)
    except NoSuchImage:
        return
    executor.PULLED_IMAGES.add((image, platform))


@lambda_hooks.start_docker_executor()
def mount_layers_in_opt(container_config, function_version) -> None:
    for layer in function_version.config.layers or []:
        if layer.code is None:
            continue
        layer.code.prepare_for_execution()  # unzips the layer's archive once, where LocalStack keeps it
        container_config.copy_folders.append((f"{layer.code.get_unzipped_code_location()}/.", "/opt"))
        LOG.debug("layer %s -> /opt of %s", layer.layer_version_arn, function_version.id.function_name)


@hooks.on_infra_start()
def address_on_host_network() -> None:
    from localstack.utils.docker_utils import DOCKER_CLIENT

    lookup = DOCKER_CLIENT.get_container_ipv4_for_network
    if getattr(lookup, "host_network_is_loopback", False):
        return

    def container_address(container_name_or_id: str, container_network: str) -> str:
        if container_network == "host":
            return "127.0.0.1"
        return lookup(container_name_or_id=container_name_or_id, container_network=container_network)

    container_address.host_network_is_loopback = True
    DOCKER_CLIENT.get_container_ipv4_for_network = container_address
