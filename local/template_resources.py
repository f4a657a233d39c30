"""The resources a deploy of template.yaml must create: SAM transform, then its Conditions, evaluated here.

Computed without the emulator, so `make deploy-local` can compare what the emulated CloudFormation created with what
the template asks for (a resource left out silently would otherwise go unnoticed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from local.stack import transformed_template


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value: the override, else the template's default."""
    values = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    values.update(overrides)
    return values


def evaluate_conditions(template: dict[str, Any], values: dict[str, str]) -> dict[str, bool]:
    """Each named condition's value, for the intrinsic functions Conditions may use."""
    conditions = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return values[argument]
            if function == "Condition":
                return condition(argument)
            if function == "Fn::Equals":
                left, right = (resolve(a) for a in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not resolve(argument[0])
            if function == "Fn::And":
                return all(resolve(a) for a in argument)
            if function == "Fn::Or":
                return any(resolve(a) for a in argument)
            raise ValueError(f"unsupported function in a condition: {function}")
        return node

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = bool(resolve(conditions[name]))
        return results[name]

    for name in conditions:
        condition(name)
    return results


@dataclass(frozen=True)
class ExpectedStack:
    resources: dict[str, str]  # logical id -> type
    outputs: list[str]  # output keys


def expected_stack(session: boto3.session.Session, stack_name: str, overrides: dict[str, str]) -> ExpectedStack:
    """The resources and outputs the stack must have after the SAM transform and its conditions."""
    template = transformed_template(session, overrides)
    values = parameter_values(template, overrides)
    values.update(
        {
            "AWS::StackName": stack_name,
            "AWS::Region": session.region_name,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }
    )
    conditions = evaluate_conditions(template, values)

    def kept(entry: dict[str, Any]) -> bool:
        return conditions.get(entry.get("Condition", ""), True)

    return ExpectedStack(
        resources={lid: resource["Type"] for lid, resource in template["Resources"].items() if kept(resource)},
        outputs=sorted(key for key, output in template.get("Outputs", {}).items() if kept(output)),
    )
