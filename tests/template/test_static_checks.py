"""Static checks of template.yaml, member/template.yaml and of the Python code, inside the test command.

Each test prints the tool's summary and puts it in its assertion message too, so the figures are visible with or
without `-s`. Run alone: `.venv/bin/python -m pytest tests/template -m template`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess  # nosec B404 - runs the project's own linters with fixed argument lists
import sys
from pathlib import Path

import pytest

from tests.support.template import ROOT, iam_policies, member_template, sam_transformed

pytestmark = pytest.mark.template

BIN = Path(sys.executable).parent  # the virtual environment running the tests (.venv)
CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, check=False, **kwargs)  # nosec B603


def report(summary: str) -> str:
    print(f"\n{summary}")
    return summary


# ---- CloudFormation / SAM ----------------------------------------------------------------------------------------


def test_cfn_lint_with_serverless_rules_is_clean():
    result = run([str(BIN / "cfn-lint"), "template.yaml", "--append-rules", "cfn_lint_serverless.rules"])
    output = (result.stdout + result.stderr).strip()
    summary = report(f"cfn-lint (+ cfn-lint-serverless rules): exit {result.returncode}, {output or 'no findings'}")
    assert result.returncode == 0 and not output, summary


def test_member_template_cfn_lint_is_clean():
    result = run([str(BIN / "cfn-lint"), "member/template.yaml"])
    summary = report(
        f"cfn-lint member/template.yaml: exit {result.returncode}, {len(result.stdout.splitlines())} lines"
    )
    assert result.returncode == 0, summary + "\n" + result.stdout + result.stderr


def test_sam_validate_lint_is_clean():
    result = run([str(BIN / "sam"), "validate", "--lint", "--region", "us-east-1"], timeout=600)
    output = (result.stdout + result.stderr).strip()
    summary = report(f"sam validate --lint: exit {result.returncode}, {output}")
    assert result.returncode == 0 and "is a valid SAM Template" in output, summary


def ensure_checkov() -> Path:
    """checkov pins libraries of its own, so it lives in .venv-checkov; build it on a fresh clone."""
    if not CHECKOV.exists():
        base_python = getattr(sys, "_base_executable", None) or "python3"
        created = run([base_python, "-m", "venv", str(CHECKOV_VENV)], timeout=300)
        assert created.returncode == 0, created.stderr
        pip = run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "-r", "requirements-checkov.txt"], timeout=1200
        )
        assert pip.returncode == 0, pip.stdout + pip.stderr
    return CHECKOV


@pytest.mark.parametrize("template", ["template.yaml", "member/template.yaml"])
def test_checkov_finds_no_failed_check_and_every_skip_is_justified(template):
    checkov = ensure_checkov()
    # --skip-download: the run is offline and must not depend on the vendor's API for check metadata.
    result = run(
        [str(checkov), "-f", template, "--framework", "cloudformation", "--skip-download", "--output", "json"],
        timeout=600,
    )
    report_json = json.loads(result.stdout)
    summary_counts = report_json["summary"]
    results = report_json["results"]
    summary = report(
        f"checkov {template}: "
        + "Passed checks: {passed}, Failed checks: {failed}, Skipped checks: {skipped}".format(**summary_counts)
    )
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in results["skipped_checks"]
        if len((c.get("check_result") or {}).get("suppress_comment") or "") < 40
    ]
    for check in results["skipped_checks"]:
        print(f"  skipped {check['check_id']} on {check['resource']}: {check['check_result'].get('suppress_comment')}")
    assert summary_counts["parsing_errors"] == 0, summary
    assert not failed, f"{summary}\n" + "\n".join(failed)
    assert not unjustified, f"{summary}\nskips without a written justification: {unjustified}"


# ---- IAM (parliament) --------------------------------------------------------------------------------------------

# Findings above LOW that are accepted, each with the reason. Keyed by (policy, parliament issue).
PARLIAMENT_ALLOWED = {
    ("HandlerKey/KeyPolicy", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "The key policy's first statement gives the account (root) kms:* on this key: it is the AWS default key "
        "policy statement that lets the account's IAM policies govern the key. Without it the key cannot be "
        "administered or even deleted by anyone; no other principal is granted key-management actions."
    ),
    ("InterruptionHandlerRole/AssumeRolePolicyDocument", "MALFORMED"): (
        "A role's trust policy has a Principal and no Resource by design; parliament reads every document as a "
        "permission policy. The trust policy is asserted on separately (test_trust_policies_name_one_service_each)."
    ),
    ("InterruptionHandlerRole/interruption-handler", "CREDENTIALS_EXPOSURE"): (
        "Hub and spoke only (OrganizationId or MemberAccountIds set): sts:AssumeRole returns credentials, which is the "
        "point: the hub acts in a member account through its member role. Held to that one role name, in the listed "
        "accounts (aws:ResourceAccount) or the organization (aws:ResourceOrgID); asserted by "
        "test_the_hub_assumes_only_the_member_role_in_member_accounts_or_the_organization."
    ),
    ("SpotDrillRole/AssumeRolePolicyDocument", "MALFORMED"): (
        "Trust policy, as above: fis.amazonaws.com only, bound to this account's experiments by aws:SourceAccount and "
        "aws:SourceArn."
    ),
}

# Defaults, and every optional piece switched on, so conditional resources (the FIS drill role) are checked too.
PARAMETER_SETS = {
    "defaults": {},
    "all-options": {
        "EnableSpotDrill": "true",
        "TargetGroupArnPattern": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/game-*",
        "OpsTopicArn": "arn:aws:sns:us-east-1:123456789012:ops",
        "AlertEmail": "ops@example.com",
        "AlertEventBusName": "ops-alerts",
        "InterruptionRateAlarmThreshold": "40",
    },
    # Hub and spoke: the hub bus, the AssumeRole statements and the cross-account subscriptions (members and the org).
    "hub": {
        "OrganizationId": "o-a1b2c3d4e5",
        "MemberAccountIds": "111111111111,222222222222",
    },
}

MEMBER_PARAMETERS = {
    "HubEventBusArn": "arn:aws:events:us-east-2:123456789012:event-bus/spot-handler-hub",
    "HubHandlerRoleArn": "arn:aws:iam::123456789012:role/spot-handler-InterruptionHandlerRole-ABC",
}
MEMBER_PARLIAMENT_ALLOWED = {
    ("MemberRole/AssumeRolePolicyDocument", "MALFORMED"): "Trust policy: the hub handler's role only (asserted below).",
    ("ForwardingRole/AssumeRolePolicyDocument", "MALFORMED"): "Trust policy: events.amazonaws.com of this account.",
}


@pytest.fixture(scope="module")
def transformed():
    return sam_transformed()


def parliament_findings(policies: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    import parliament
    from parliament import analyze_policy_string, enhance_finding

    # As `parliament --include-community-auditors` does: their issues and severities come from this override file.
    parliament.override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
    findings = []
    for name, document in policies.items():
        policy = analyze_policy_string(json.dumps(document), include_community_auditors=True)
        for finding in policy.findings:
            enhance_finding(finding)
            findings.append((name, finding.issue, finding.severity, str(finding.detail or finding.location)[:160]))
    return findings


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_parliament_finds_nothing_above_low_in_any_policy(transformed, parameter_set):
    policies = iam_policies(transformed, PARAMETER_SETS[parameter_set])
    unresolved = [name for name, doc in policies.items() if "UNRESOLVED" in json.dumps(doc)]
    assert not unresolved, f"policies with intrinsics the resolver does not know: {unresolved}"

    findings = parliament_findings(policies)
    by_severity: dict[str, int] = {}
    for _, _, severity, _ in findings:
        by_severity[severity] = by_severity.get(severity, 0) + 1
    above_low = [f for f in findings if f[2] not in ("LOW", "INFO")]
    allowed = [f for f in above_low if (f[0], f[1]) in PARLIAMENT_ALLOWED]
    blocking = [f for f in above_low if (f[0], f[1]) not in PARLIAMENT_ALLOWED]
    summary = report(
        f"parliament ({parameter_set}): {len(policies)} policies, {len(findings)} findings "
        f"{dict(sorted(by_severity.items()))}; above LOW: {len(above_low)} "
        f"({len(allowed)} allow-listed with reasons, {len(blocking)} blocking)"
    )
    for name, issue, severity, detail in findings:
        print(f"  {severity:6} {issue} in {name}: {detail}")
    assert not blocking, summary + "\n" + "\n".join(map(str, blocking))


def member_action_prefixes() -> set[str]:
    """The IAM prefixes of the services the handler calls in a member account (aws/clients.MEMBER_SERVICES, each
    named as IAM names it: elbv2 and elb are both elasticloadbalancing). A step using a new service adds it there."""
    from botocore.session import get_session
    from spot_handler.aws.clients import MEMBER_SERVICES

    return {get_session().get_service_model(service).signing_name for service in MEMBER_SERVICES}


def test_member_template_policies_are_clean_and_grant_nothing_beyond_the_hubs_own(transformed):
    """parliament on the member template's policies, in the role's region; the member role trusts the hub handler's
    role alone, has no SNS, SQS, DynamoDB or KMS action, and no action the hub function lacks for its own account."""
    member = member_template()
    policies = iam_policies(member, {**MEMBER_PARAMETERS, "AWS::Region": "us-east-2"})
    findings = [f for f in parliament_findings(policies) if f[2] not in ("LOW", "INFO")]
    blocking = [f for f in findings if (f[0], f[1]) not in MEMBER_PARLIAMENT_ALLOWED]
    summary = report(
        f"parliament (member): {len(policies)} policies, {len(findings)} above LOW, {len(blocking)} blocking"
    )
    assert not blocking, summary + "\n" + "\n".join(map(str, blocking))

    trust = policies["MemberRole/AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": MEMBER_PARAMETERS["HubHandlerRoleArn"]}]
    member_actions = {
        a for s in policies["MemberRole/spot-interruption-member"]["Statement"] for a in _actions(s) if s["Effect"]
    }
    hub_actions = {
        a
        for s in iam_policies(transformed)["InterruptionHandlerRole/interruption-handler"]["Statement"]
        for a in _actions(s)
    }
    assert not {a for a in member_actions if a.split(":")[0] in ("sns", "sqs", "dynamodb", "kms")}
    assert member_actions <= hub_actions, sorted(member_actions - hub_actions)
    # And every permission a step needs in the hub's own account, the member role has too: a step's new call granted
    # in template.yaml but forgotten in member/template.yaml would show up in a hub only as AccessDenied.
    hub_step_actions = {a for a in hub_actions if a.split(":")[0] in member_action_prefixes()}
    assert hub_step_actions <= member_actions, f"the member role lacks {sorted(hub_step_actions - member_actions)}"
    forwarding = policies["ForwardingRole/forward-to-hub"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in forwarding] == [
        ("events:PutEvents", MEMBER_PARAMETERS["HubEventBusArn"])
    ]


def test_member_role_is_created_in_one_region_only():
    # IAM roles are global: a second region's stack creating the same role name would fail.
    from tests.support.template import Resolver

    member = member_template()
    created = {
        region: Resolver(member, {**MEMBER_PARAMETERS, "AWS::Region": region}).resource_exists("MemberRole")
        for region in ("us-east-2", "eu-west-1")
    }
    assert created == {"us-east-2": True, "eu-west-1": False}


def test_the_hub_assumes_only_the_member_role_in_member_accounts_or_the_organization(transformed):
    single = iam_policies(transformed)["InterruptionHandlerRole/interruption-handler"]["Statement"]
    assert not [s for s in single if "sts:AssumeRole" in _actions(s)]  # single account: no STS at all
    hub = iam_policies(transformed, PARAMETER_SETS["hub"])["InterruptionHandlerRole/interruption-handler"]["Statement"]
    assuming = [s for s in hub if "sts:AssumeRole" in _actions(s)]
    assert [(s["Resource"], s["Condition"]) for s in assuming] == [
        (
            "arn:aws:iam::*:role/SpotInterruptionHandlerMember",
            {"StringEquals": {"aws:ResourceAccount": ["111111111111", "222222222222"]}},
        ),
        ("arn:aws:iam::*:role/SpotInterruptionHandlerMember", {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}),
    ]
    assert all(_actions(s) == ["sts:AssumeRole"] for s in assuming)


def test_cross_account_subscribers_may_subscribe_and_nothing_more(transformed):
    topic = iam_policies(transformed, PARAMETER_SETS["hub"])["AlertTopicPolicy/PolicyDocument"]["Statement"]
    subscribing = {s["Sid"]: s for s in topic if s["Sid"] in ("MemberAccountsSubscribe", "OrganizationSubscribes")}
    assert {sid: _actions(s) for sid, s in subscribing.items()} == {
        "MemberAccountsSubscribe": ["sns:Subscribe"],
        "OrganizationSubscribes": ["sns:Subscribe"],
    }
    # the member accounts (MemberAccountIds) and the organization, nobody else
    assert subscribing["MemberAccountsSubscribe"]["Principal"] == {"AWS": ["111111111111", "222222222222"]}
    assert subscribing["OrganizationSubscribes"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    for statement in subscribing.values():
        assert statement["Condition"]["StringEquals"]["sns:Protocol"] == ["sqs", "lambda", "https"]
    # And nothing of the sort without the parameters
    single = iam_policies(transformed)["AlertTopicPolicy/PolicyDocument"]["Statement"]
    assert not [s for s in single if "sns:Subscribe" in _actions(s)]
    # And the key grants subscribers nothing: SNS decrypts before it delivers
    key = json.dumps(iam_policies(transformed, PARAMETER_SETS["hub"])["HandlerKey/KeyPolicy"])
    assert "111111111111" not in key and "PrincipalOrgID" not in key


def test_alert_events_go_to_the_named_bus_and_nowhere_else(transformed):
    """events:PutEvents on AlertEventBusName alone, by the hub's function role; nothing of it in the member role."""
    from tests.support.template import Resolver

    for parameters, bus in (
        ({}, "default"),
        ({"AlertEventBusName": "ops-alerts"}, "ops-alerts"),
        (PARAMETER_SETS["hub"], "default"),
    ):
        policies = iam_policies(transformed, parameters)
        putting = [
            (name, statement["Resource"])
            for name, document in policies.items()
            for statement in document.get("Statement", [])
            if "events:PutEvents" in _actions(statement)
        ]
        assert putting == [
            ("InterruptionHandlerRole/interruption-handler", f"arn:aws:events:us-east-1:123456789012:event-bus/{bus}")
        ]
        variables = Resolver(transformed, parameters).resolve(
            transformed["Resources"]["InterruptionHandlerFunction"]["Properties"]["Environment"]
        )["Variables"]
        assert variables["ALERT_EVENT_BUS_NAME"] == bus
    off = iam_policies(transformed, {"AlertEventBusName": ""})
    assert not [s for d in off.values() for s in d.get("Statement", []) if "events:PutEvents" in _actions(s)]
    member = iam_policies(member_template(), {**MEMBER_PARAMETERS, "AWS::Region": "us-east-2"})
    assert not [
        a
        for s in member["MemberRole/spot-interruption-member"]["Statement"]
        for a in _actions(s)
        if a.startswith("events:")
    ]


def test_interruption_rate_alarm_and_the_dashboard_follow_the_parameters(transformed):
    from tests.support.template import Resolver

    def stack(parameters: dict) -> tuple[Resolver, dict]:
        resolver = Resolver(transformed, parameters)
        body = resolver.resolve(transformed["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"])
        return resolver, json.loads(body)

    # Off by default: no alarm, and the dashboard lists none
    resolver, dashboard = stack({})
    assert not resolver.resource_exists("InterruptionRateAlarm")
    [alarms] = [w["properties"]["alarms"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert not [a for a in alarms if a.endswith(":interruption-rate")]

    # A threshold: Interruptions of the whole fleet over a sliding hour, into the ops topic
    parameters = {"InterruptionRateAlarmThreshold": "40", "OpsTopicArn": "arn:aws:sns:us-east-1:123456789012:ops"}
    resolver, dashboard = stack(parameters)
    alarm = resolver.resolve(transformed["Resources"]["InterruptionRateAlarm"]["Properties"])
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions", "Statistic", "Period", "Threshold")} == {
        "Namespace": "SpotInterruptionHandler",
        "MetricName": "Interruptions",
        "Dimensions": [{"Name": "service", "Value": "spot-interruption-handler"}],
        "Statistic": "Sum",
        "Period": 3600,
        "Threshold": "40",
    }
    assert alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:ops"]
    [alarms] = [w["properties"]["alarms"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert alarms[-2:] == [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:spot-handler-alert-event-failures",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:spot-handler-interruption-rate",
    ]

    # The pools widget: a day of Interruptions per pool, with the dimensions the handler writes (Account in a hub)
    for parameters, schema in (
        ({}, "{SpotInterruptionHandler,AvailabilityZone,InstanceType,service}"),
        (PARAMETER_SETS["hub"], "{SpotInterruptionHandler,Account,AvailabilityZone,InstanceType,service}"),
    ):
        _, dashboard = stack(parameters)
        [pools] = [w["properties"] for w in dashboard["widgets"] if "by pool" in w["properties"].get("title", "")]
        assert pools["start"] == "-PT24H"
        assert pools["metrics"] == [
            [{"expression": f"SEARCH('{schema} MetricName=\"Interruptions\"', 'Sum', 3600)", "id": "pools"}]
        ]


def test_every_metric_the_dashboard_shows_is_one_the_handler_writes(transformed):
    """A widget of a metric the handler never writes stays empty for ever: each name the dashboard shows in the
    handler's namespace is one app.py adds (the late signal, sweep and restore widget included)."""
    from tests.support.template import Resolver

    body = Resolver(transformed, {}).resolve(
        transformed["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    )
    shown, namespace = set(), None
    for widget in json.loads(body)["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            names = [part for part in metric if isinstance(part, str)]
            if names and names[0] != ".":
                namespace = names[0]
            if namespace == "SpotInterruptionHandler" and len(names) > 1:
                shown.add(names[1])
    written = set(re.findall(r'name="([A-Za-z]+)"', (ROOT / "functions/interruption_handler/app.py").read_text()))
    assert {"MissedWarnings", "MissedInterruptions", "InstancesRestored"} <= shown
    assert shown <= written, f"shown but never written: {sorted(shown - written)}"


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_an_invocation_ends_before_its_claims_count_as_abandoned_or_its_messages_come_back(transformed):
    """idempotency/claims.py reads a claim older than OWNER_INVOCATION_SECONDS as held by no running invocation, and the
    queue must not deliver a message again while the invocation that has it may still run."""
    from spot_handler.idempotency.records import OWNER_INVOCATION_SECONDS

    resources = transformed["Resources"]
    [handler] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    timeout = handler["Properties"]["Timeout"]
    read = [
        r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert {"NoticeQueue", "LoneNoticeQueue", "StateChangeQueue"} <= set(read)
    for queue in read:
        visibility = resources[queue]["Properties"]["VisibilityTimeout"]
        assert timeout <= OWNER_INVOCATION_SECONDS < visibility, queue


def test_eventbridge_may_use_the_key_of_every_queue_a_rule_delivers_to(transformed):
    """The queues are encrypted with the stack's key: EventBridge delivers to one only if the key policy names it
    (its encryption context); a queue left out drops every event of its rule, silently, into the rule's DLQ."""
    resources = transformed["Resources"]
    delivered = set()
    for resource in resources.values():
        if resource["Type"] == "AWS::Events::Rule":
            for target in resource["Properties"].get("Targets", []):
                arn = target["Arn"]
                queue = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
                if queue in resources and resources[queue]["Type"] == "AWS::SQS::Queue":
                    delivered.add(resources[queue]["Properties"]["QueueName"]["Fn::Sub"].split("}", 1)[1])
    [grant] = [
        s
        for s in resources["HandlerKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    named = {
        a["Fn::Sub"].rsplit("}", 1)[1] for a in grant["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sqs:arn"]
    }
    assert delivered and delivered <= named, delivered - named


def test_trust_policies_name_one_service_each(transformed):
    policies = iam_policies(transformed, PARAMETER_SETS["all-options"])
    trusts = {name: doc for name, doc in policies.items() if name.endswith("/AssumeRolePolicyDocument")}
    principals = {
        name: [s["Principal"] for s in doc["Statement"] if s["Effect"] == "Allow"] for name, doc in trusts.items()
    }
    assert principals == {
        "InterruptionHandlerRole/AssumeRolePolicyDocument": [{"Service": "lambda.amazonaws.com"}],
        "SpotDrillRole/AssumeRolePolicyDocument": [{"Service": "fis.amazonaws.com"}],
    }


def test_no_mutating_action_on_every_resource_except_the_documented_ones(transformed):
    """The rule behind the "Resource: *" table of docs/security.md: a write action on "*" only where IAM allows
    nothing else."""
    from parliament import iam_definition

    access = {
        (service["prefix"], privilege["privilege"].lower()): privilege["access_level"]
        for service in iam_definition
        for privilege in service["privileges"]
    }
    documented = {
        "gamelift:UpdateGameSession",  # no resource types, no service condition keys
        "xray:PutTraceSegments",  # no resource types
        "xray:PutTelemetryRecords",  # no resource types
    }
    policies = iam_policies(transformed, PARAMETER_SETS["all-options"])
    star_writes = set()
    for name, document in policies.items():
        if name.endswith(("/KeyPolicy", "/AssumeRolePolicyDocument")):
            continue  # a key policy's "*" is the key itself; trust policies have no Resource
        for statement in document["Statement"]:
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if statement["Effect"] != "Allow" or "*" not in resources:
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                prefix, _, name_ = action.partition(":")
                if access.get((prefix, name_.lower())) not in ("List", "Read"):
                    star_writes.add(action)
    summary = report(f'mutating actions on Resource "*": {sorted(star_writes)}')
    assert star_writes <= documented, summary


# ---- Python (bandit) ---------------------------------------------------------------------------------------------


def test_bandit_finds_no_medium_or_high_issue():
    result = run([str(BIN / "bandit"), "-r", "layers", "functions", "-f", "json", "-q"], timeout=300)
    data = json.loads(result.stdout)
    totals = data["metrics"]["_totals"]
    issues = data["results"]
    medium_plus = [
        f"{i['filename']}:{i['line_number']} {i['test_id']} {i['issue_severity']}: {i['issue_text']}"
        for i in issues
        if i["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    summary = report(
        f"bandit: {totals['loc']} lines scanned in layers/ and functions/; issues by severity: "
        f"high {totals['SEVERITY.HIGH']:.0f}, medium {totals['SEVERITY.MEDIUM']:.0f}, low {totals['SEVERITY.LOW']:.0f}"
    )
    for issue in issues:
        print(f"  {issue['issue_severity']:6} {issue['test_id']} {issue['filename']}:{issue['line_number']}")
    assert not data["errors"], data["errors"]
    assert not medium_plus, summary + "\n" + "\n".join(medium_plus)
