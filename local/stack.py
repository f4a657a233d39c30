"""Create the stack's resources from template.yaml itself in moto: SAM transform, then moto's CloudFormation.

moto cannot run what only Lambda's service can (the function, its layer, its event source mapping); those are left
out and listed, and the handler runs in-process or through `sam local invoke` instead. Every other resource in the
template is created by moto's CloudFormation from the same template users deploy.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"

# Resource types moto's CloudFormation cannot create here, and why.
NOT_CREATED_LOCALLY = {
    "AWS::Lambda::Function": "runs through sam local invoke or in-process instead",
    "AWS::Lambda::LayerVersion": "its code is on PYTHONPATH locally",
    "AWS::Lambda::EventSourceMapping": "the demo polls the queue the way Lambda's poller does",
    "AWS::Lambda::Permission": "no function to invoke",
    "AWS::Lambda::EventInvokeConfig": "no function to invoke asynchronously",
    "AWS::FIS::ExperimentTemplate": "moto has no FIS",
    "AWS::CloudWatch::Dashboard": "moto's CloudFormation does not create dashboards",
}


def template_constant(group: str, name: str, template_path: Path = TEMPLATE) -> str:
    """One of the template's constants (Mappings: Constants, docs/parameters.md), e.g. ("Names", "LifecycleHook"):
    what a deployed stack uses where it once had a parameter."""
    from samcli.yamlhelper import yaml_parse

    return str(yaml_parse(template_path.read_text())["Mappings"]["Constants"][group][name])


def transformed_template(session: boto3.session.Session, parameters: dict[str, str]) -> dict[str, Any]:
    """template.yaml after the SAM transform, as CloudFormation would see it."""
    from samcli.yamlhelper import yaml_parse
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = yaml_parse(TEMPLATE.read_text())
    for logical_id, resource in template["Resources"].items():
        # Code is packaged by `sam build`/`sam package` in the cloud; locally the function is left out anyway.
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://local-artifacts/{logical_id}.zip"
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(template, parameter_values=dict(parameters), get_managed_policy_map=dict)


@dataclass
class MotoStack:
    """template.yaml as moto's CloudFormation created it: what was left out, and what moto skipped."""

    name: str
    outputs: dict[str, str]
    left_out: dict[str, str] = field(default_factory=dict)  # logical id -> why
    skipped_by_moto: dict[str, str] = field(default_factory=dict)  # logical id -> type moto's CloudFormation lacks
    template: dict[str, Any] = field(default_factory=dict)  # what was created: transformed, left-outs removed
    physical_ids: dict[str, str] = field(default_factory=dict)  # logical id -> what Ref returns


def create_moto_stack(
    session: boto3.session.Session, name: str, parameters: dict[str, str], endpoint_url: str | None = None
) -> MotoStack:
    """Create the stack in moto's CloudFormation and return its outputs."""
    template = transformed_template(session, parameters)
    left_out = _strip_unsupported(template)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns once per resource type it lacks: reported in skipped_by_moto
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack {name} ended {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # moto completes a stack whose resource types it lacks and leaves those resources empty: name them.
    physical_ids = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
        if r.get("ResourceType")
    }
    skipped = {lid: res["Type"] for lid, res in template["Resources"].items() if lid not in physical_ids}
    return MotoStack(name, outputs, left_out, skipped, template, physical_ids)


def _strip_unsupported(template: dict[str, Any]) -> dict[str, str]:
    resources = template["Resources"]
    left_out = {
        logical_id: NOT_CREATED_LOCALLY[resource["Type"]]
        for logical_id, resource in resources.items()
        if resource["Type"] in NOT_CREATED_LOCALLY
    }
    # moto sends every event put on a bus to a schedule rule's targets as if it matched: the sweep is invoked directly
    left_out |= {
        logical_id: "a schedule: moto would send it every event; the sweep is invoked directly"
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in resource.get("Properties", {})
    }
    functions = {i for i, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    for logical_id in left_out:
        del resources[logical_id]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in left_out]
        elif isinstance(depends, str) and depends in left_out:
            del resource["DependsOn"]
    template["Resources"] = _replace_refs(resources, left_out, functions)
    template["Outputs"] = _replace_refs(template.get("Outputs", {}), left_out, functions)
    return left_out


# A left-out function's ARN, shaped as AWS would make it: a rule's target must be an ARN (moto checks its format).
_FUNCTION_ARN = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:local-"


def _replace_refs(node: Any, removed: dict[str, str], functions: set[str] = frozenset()) -> Any:
    """References to left-out resources become the names they would have had (a function's Arn, an ARN), so alarms,
    rules and outputs still build."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in removed:
            return f"local-{node['Ref']}"
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            target, attribute = target.split(".", 1) if isinstance(target, str) else target
            if target in removed:
                if target in functions and attribute == "Arn":
                    return {"Fn::Sub": _FUNCTION_ARN + target}
                return f"local-{target}"
        if set(node) == {"Fn::Sub"}:  # "${Removed}" and "${Removed.Attr}" inside a Sub string
            sub = node["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            for logical_id in removed:
                arn = _FUNCTION_ARN + logical_id if logical_id in functions else f"local-{logical_id}"
                text = re.sub(r"\$\{" + re.escape(logical_id) + r"\.Arn\}", arn, text)
                text = re.sub(r"\$\{" + re.escape(logical_id) + r"(\.[A-Za-z0-9.]+)?\}", f"local-{logical_id}", text)
            return {"Fn::Sub": text if isinstance(sub, str) else [text, _replace_refs(sub[1], removed, functions)]}
        return {key: _replace_refs(value, removed, functions) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(item, removed, functions) for item in node]
    return node
