"""What a deploy of template.yaml must create, computed without an emulator (local/template_resources.py): the
count `make deploy-local` compares the deployed stack with."""

from __future__ import annotations

import boto3
import pytest

from local.template_resources import evaluate_conditions, expected_stack


@pytest.fixture
def session():
    return boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-2")


def test_defaults_leave_out_the_conditional_resources_and_outputs(session):
    expected = expected_stack(session, "spot-interruption-handler", {})
    assert "AlertEmailSubscription" not in expected.resources
    assert "SpotDrillExperiment" not in expected.resources
    assert "SpotDrillExperimentTemplateId" not in expected.outputs
    # the SAM transform's own resources are counted: the function's event source mapping and its layer
    assert expected.resources["InterruptionHandlerFunctionNotices"] == "AWS::Lambda::EventSourceMapping"
    assert "AWS::Lambda::LayerVersion" in expected.resources.values()


def test_parameters_switch_conditional_resources_on(session):
    overrides = {"AlertEmail": "ops@example.com", "EnableSpotDrill": "true"}
    expected = expected_stack(session, "spot-interruption-handler", overrides)
    assert {"AlertEmailSubscription", "SpotDrillRole", "SpotDrillExperiment"} <= set(expected.resources)
    assert {"SpotDrillExperimentTemplateId", "SpotDrillTag"} <= set(expected.outputs)


def test_conditions_combine_and_refer_to_each_other():
    template = {
        "Conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "ProdWithMail": {
                "Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Mail"}, ""]}]}]
            },
            "Either": {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "ProdWithMail"}]},
        }
    }
    assert evaluate_conditions(template, {"Stage": "prod", "Mail": ""}) == {
        "IsProd": True,
        "NotProd": False,
        "ProdWithMail": False,
        "Either": False,
    }
