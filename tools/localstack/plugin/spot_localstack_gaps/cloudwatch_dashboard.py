"""A CloudFormation resource provider for AWS::CloudWatch::Dashboard in LocalStack's community edition.

Gap: LocalStack 4.14 has no provider for this type outside its paid edition; its CloudFormation then marks the
resource CREATE_COMPLETE without creating anything ("No resource provider found for AWS::CloudWatch::Dashboard")
and Ref gives "unknown". Its CloudWatch API does serve dashboards, so this provider creates the template's
dashboard there (PutDashboard), as CloudFormation does in AWS: Ref is the dashboard's name.
"""

from __future__ import annotations

from typing import ClassVar, TypedDict

import localstack.services.cloudformation.provider_utils as util
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)


class DashboardProperties(TypedDict, total=False):
    DashboardName: str
    DashboardBody: str


class CloudWatchDashboardProvider(ResourceProvider[DashboardProperties]):
    TYPE = "AWS::CloudWatch::Dashboard"
    # The parts of the resource type's schema the engine reads: what identifies it (Ref) and what replaces it.
    SCHEMA: ClassVar[dict] = {
        "typeName": TYPE,
        "properties": {"DashboardName": {"type": "string"}, "DashboardBody": {"type": "string"}},
        "required": ["DashboardBody"],
        "primaryIdentifier": ["/properties/DashboardName"],
        "createOnlyProperties": ["/properties/DashboardName"],
        "additionalProperties": False,
    }

    def create(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        model = request.desired_state
        if not model.get("DashboardName"):
            model["DashboardName"] = util.generate_default_name(request.stack_name, request.logical_resource_id)
        self._put(request, model)
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def update(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        model = request.desired_state
        model.setdefault("DashboardName", (request.previous_state or {}).get("DashboardName"))
        self._put(request, model)
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def delete(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        model = request.desired_state
        request.aws_client_factory.cloudwatch.delete_dashboards(DashboardNames=[model["DashboardName"]])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        raise NotImplementedError

    @staticmethod
    def _put(request: ResourceRequest[DashboardProperties], model: DashboardProperties) -> None:
        request.aws_client_factory.cloudwatch.put_dashboard(
            DashboardName=model["DashboardName"], DashboardBody=model["DashboardBody"]
        )


class CloudWatchDashboardProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudWatch::Dashboard"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider] | None = None

    def load(self) -> None:
        self.factory = CloudWatchDashboardProvider
