"""template.yaml as CloudFormation sees it: the SAM transform, then intrinsic functions resolved for one set of
parameter values, so static checks (parliament) read the same policies a deployment would create.

The resolver knows the Ref/GetAtt shapes of the resource types this template uses; anything else resolves to a
recognisable placeholder, which parliament reports, so a gap here shows up as a finding rather than passing silently.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "spot-handler"
NO_VALUE = object()


def member_template() -> dict[str, Any]:
    """member/template.yaml as a dict (plain CloudFormation: no transform)."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse((ROOT / "member" / "template.yaml").read_text())


def sam_transformed(region: str = REGION) -> dict[str, Any]:
    """template.yaml after the SAM transform (code locations replaced: nothing is packaged here)."""
    import boto3

    from local.stack import transformed_template

    session = boto3.session.Session(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return transformed_template(session, {})


_NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::IAM::Role": "RoleName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap and conditions."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str] | None = None):
        self.template = template
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters or {})
        self.pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        # A pseudo parameter given with the parameters (e.g. AWS::Region, for a stack of another region) overrides.
        self.pseudo |= {name: self.parameters.pop(name) for name in list(self.parameters) if name.startswith("AWS::")}
        self._conditions: dict[str, bool] = {}

    # ---- conditions ---------------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self._condition_value(self.template["Conditions"][name]))
        return self._conditions[name]

    def _condition_value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in value)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._condition_value(value[0])
            if key == "Fn::And":
                return all(self._condition_value(v) for v in value)
            if key == "Fn::Or":
                return any(self._condition_value(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return self.resolve(node)

    def resource_exists(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # ---- names, Ref and GetAtt ----------------------------------------------------------------------------------
    def _name(self, logical_id: str) -> str:
        resource = self.template["Resources"][logical_id]
        prop = _NAME_PROPERTY.get(resource["Type"])
        value = resource.get("Properties", {}).get(prop) if prop else None
        return str(self.resolve(value)) if value is not None else f"{STACK}-{logical_id}-1A2B3C4D5E6F"

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template["Resources"][name]
        kind = resource["Type"]
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self._name(name)}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self._name(name)}"
        if kind == "AWS::KMS::Key":
            return "1234abcd-12ab-34cd-56ef-1234567890ab"
        if kind == "AWS::FIS::ExperimentTemplate":
            return "EXT1a2b3c4d5e6f7"
        if kind == "AWS::Lambda::LayerVersion":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:1"
        return self._name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self.template["Resources"][logical_id]["Type"]
        name = self._name(logical_id)
        if attribute in ("QueueName", "TopicName"):
            return name
        arns = {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.ref(logical_id)}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        }
        if attribute in ("Arn", "TopicArn") and kind in arns:
            return arns[kind]
        if attribute == "StreamArn" and kind == "AWS::DynamoDB::Table":
            return f"{arns[kind]}/stream/2026-11-26T10:00:00.000"
        return f"UNRESOLVED-{logical_id}.{attribute}"

    # ---- the walk -----------------------------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical_id, attribute = value.split(".", 1) if isinstance(value, str) else value
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::If":
                condition, if_true, if_false = value
                return self.resolve(if_true if self.condition(condition) else if_false)
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.resolve(v) for v in value)
                return self.template["Mappings"][mapping][first][second]
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
        variables = {name: self.resolve(v) for name, v in variables.items()}

        def one(match: re.Match) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                return str(variables[token])
            if token in self.pseudo or token in self.parameters or token in self.template["Resources"]:
                return str(self.ref(token))
            logical_id, _, attribute = token.partition(".")
            return str(self.get_att(logical_id, attribute))

        return re.sub(r"\$\{([^}]+)\}", one, text)


def iam_policies(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every IAM policy document the stack would create, resolved: {"<LogicalId>/<what>": document}."""
    resolver = Resolver(copy.deepcopy(template), parameters)
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if not resolver.resource_exists(logical_id):
            continue
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            found[f"{logical_id}/AssumeRolePolicyDocument"] = resolver.resolve(props["AssumeRolePolicyDocument"])
            for policy in props.get("Policies", []):
                found[f"{logical_id}/{resolver.resolve(policy['PolicyName'])}"] = resolver.resolve(
                    policy["PolicyDocument"]
                )
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found[f"{logical_id}/PolicyDocument"] = resolver.resolve(props["PolicyDocument"])
        elif kind == "AWS::KMS::Key":
            found[f"{logical_id}/KeyPolicy"] = resolver.resolve(props["KeyPolicy"])
        elif kind == "AWS::DynamoDB::Table" and "ResourcePolicy" in props:
            found[f"{logical_id}/ResourcePolicy"] = resolver.resolve(props["ResourcePolicy"]["PolicyDocument"])
    return found
