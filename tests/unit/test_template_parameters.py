"""What `sam deploy --guided` asks: few questions, grouped, documented; and the constants that replaced the others.

`sam deploy --guided` asks one question per parameter of template.yaml, in the order of its Parameters section.
Issue 22 bounds them at 15, counting the parameters that other open issues add by name, so this test stays right
as those land: until a named parameter is in the template, its question is counted as reserved.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse
from spot_handler.flow import STEPS
from spot_handler.settings import Settings, variables_read
from spot_handler.steps.classic_elb import ClassicLoadBalancersSettings
from spot_handler.steps.ecs import EcsSettings
from spot_handler.steps.target_groups import TargetGroupsSettings

from local.account import MEMBER_ROLE_NAME
from tests.support.template import member_template

ROOT = Path(__file__).resolve().parents[2]
MOST_QUESTIONS = 15
# Parameters other open issues add by name (issue 23: late signals, sweep, restore; issue 24: EventBridge, metrics).
RESERVED = (
    "ReconcileEveryMinutes",
    "RestoreAfterRebalanceMinutes",
    "RestoreDrainedInstances",
    "AlertEventBusName",
    "InterruptionRateAlarmThreshold",
)
# Parameters issues 22 and 25 removed; docs/parameters.md says what to do with each in samconfig.toml.
REMOVED = (
    "Architecture",
    "LogLevel",
    "LogRetentionDays",
    "TargetGroupTagKey",
    "ClassicLoadBalancerTagKey",
    "EcsClusterTagKey",
    "DiscoverAsgTargetGroups",
    "DiscoverEcsClusters",
    "EcsClusterNamePattern",
    "LifecycleHookName",
    "MemberRoleName",
    "AlertSubscriberAccountIds",
    "DrillTagValue",
    # issue 25: the two queues' event sources are Mappings.NoticeBatching, chosen by bench/README's trade-off
    "BatchSize",
    "MaxBatchingWindowSeconds",
    "MaxConcurrency",
)


@pytest.fixture(scope="module")
def template():
    return yaml_parse((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="module")
def parameters(template):
    return list(template["Parameters"])


def guided_questions(parameters: list[str]) -> int:
    """Questions `sam deploy --guided` asks now, plus those reserved for the named parameters still to come."""
    return len(parameters) + len([p for p in RESERVED if p not in parameters])


def test_guided_asks_at_most_15_questions_counting_the_parameters_other_issues_add(parameters):
    assert guided_questions(parameters) <= MOST_QUESTIONS, (
        f"{len(parameters)} parameters ({', '.join(parameters)}) plus reserved "
        f"{[p for p in RESERVED if p not in parameters]}: more than {MOST_QUESTIONS} questions for sam deploy --guided"
    )


def test_the_count_treats_reserved_questions_as_asked():
    # Given ten parameters of our own and none of the reserved ones yet
    today = [f"P{i}" for i in range(10)]
    assert guided_questions(today) == 10 + 5
    # When the other issues land their parameters, the count does not change
    assert guided_questions(today + list(RESERVED)) == 15
    # and an eleventh parameter of our own is one too many
    assert guided_questions([*today, "P10"]) == 16


def test_every_parameter_is_in_one_group_in_the_order_guided_asks(template, parameters):
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    # every parameter in exactly one group, and Parameters (what --guided follows) in the groups' order
    assert grouped == parameters


def test_every_parameter_is_in_the_parameter_table_and_readme_lists_the_questions(parameters):
    table = (ROOT / "docs" / "parameters.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    assert set(parameters) <= documented, f"not in docs/parameters.md's table: {set(parameters) - documented}"
    # README's Deploy section numbers the questions in the order --guided asks them
    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    asked = sorted((int(n), name) for n, name in re.findall(r"(?:^|\s)(\d+)\. `(\w+)`", deploy))
    assert [n for n, _ in asked] == list(range(1, len(asked) + 1))
    assert [name for _, name in asked] == parameters


def test_every_removed_parameter_is_gone_and_has_a_migration_note(parameters):
    notes = (ROOT / "docs" / "parameters.md").read_text().split("## Removed parameters", 1)[1]
    for name in REMOVED:
        assert name not in parameters
        assert re.search(rf"^\| `{name}` \|", notes, flags=re.M), f"no migration note for {name}"


def test_the_member_template_shares_the_hub_constants(template):
    hub = template["Mappings"]["Constants"]
    member = member_template()["Mappings"]["Constants"]
    for group, values in member.items():
        for name, value in values.items():
            assert hub[group][name] == value, f"member/template.yaml's {group}.{name} differs from template.yaml's"


def test_the_function_defaults_and_the_local_tools_are_the_template_constants(template):
    constants = template["Mappings"]["Constants"]
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert TargetGroupsSettings().tag_key == constants["TagKeys"]["TargetGroups"]
    assert ClassicLoadBalancersSettings().tag_key == constants["TagKeys"]["ClassicLoadBalancers"]
    assert EcsSettings().tag_key == constants["TagKeys"]["EcsCluster"]
    assert str(defaults["discover_asg_target_groups"]).lower() == constants["Discovery"]["AsgTargetGroups"]
    assert str(EcsSettings().discover_clusters).lower() == constants["Discovery"]["EcsClusters"]
    assert defaults["lifecycle_hook_name"] == constants["Names"]["LifecycleHook"]
    assert defaults["member_role_name"] == MEMBER_ROLE_NAME == constants["Names"]["MemberRole"]


def test_the_function_is_given_exactly_the_variables_its_settings_and_its_steps_settings_read(template):
    # A step's setting (steps/*.py, settings.variable) the template does not set would silently keep its default; a
    # variable the template sets that nothing reads would be a setting that does nothing.
    function = template["Resources"]["InterruptionHandlerFunction"]["Properties"]
    given = {v for v in function["Environment"]["Variables"] if not v.startswith(("AWS_ENDPOINT_URL", "AWS_DATA_PATH"))}
    step_settings = {step.settings for step in STEPS if getattr(step, "settings", None)}
    assert given == variables_read(step_settings)
