"""README's first command must keep working: the demo, run as a user runs it (in-process here; e2e covers Docker)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_drains_the_victim_checkpoints_its_games_and_prints_the_alert():
    # When the demo runs (its own process: it starts servers and sets endpoint variables)
    done = subprocess.run(
        [sys.executable, "-m", "local.demo", "--in-process"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = done.stdout

    # Then it succeeded, and after the interruption only the bystander is registered anywhere
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    victim = re.search(r"victim\s+(i-[0-9a-f]+)", out).group(1)
    after = out.split("Target health AFTER")[1].split("GameLift AFTER")[0]
    before = out.split("Target health BEFORE")[1].split("GameLift BEFORE")[0]
    assert victim in before and victim not in after
    assert after.count("bystander") == 4
    # lowered from 300 s to end 10 s before the deadline (the notice is seconds old: about 108 s, under the 120 s cap)
    assert 100 <= int(re.search(r"web-instance-tg  delay +(\d+) s", after).group(1)) <= 110
    # the game sessions stopped taking players and were checkpointed
    gamelift_after = out.split("GameLift AFTER")[1]
    assert gamelift_after.count("new players: DENY_ALL") == 2
    assert re.search(r"Checkpoint items in DynamoDB table \S+ for i-[0-9a-f]+: 4", out)
    # the Classic Load Balancer kept only the bystander (draining lowered the same way), and the victim's container
    # instance is DRAINING while the bystander's stays ACTIVE
    classic_after = out.split("Classic Load Balancer and ECS AFTER")[1].split("Checkpoint items")[0]
    assert 100 <= int(re.search(r"connection draining (\d+) s", classic_after).group(1)) <= 110
    assert victim not in classic_after and classic_after.count("bystander") == 2
    assert re.search(r"\(victim\): DRAINING", classic_after) and re.search(r"\(bystander\): ACTIVE", classic_after)
    # and the e-mail alert reads as designed
    assert f"Subject: Spot interruption: {victim} (web-spot-1) terminate in us-east-2a: drained" in out
    assert re.search(r"delay lowered 300 s -> 1[01][0-9] s", out)
    assert re.search(r"connection draining lowered 300 s -> 1[01][0-9] s", out)
    assert "services: web-api (1 task)" in out
    assert "Failures: none" in out
    assert "Stopped the local moto server and the GameLift fake." in out


def test_member_account_demo_drains_the_members_instance_through_the_hub():
    # When the hub-and-spoke demo runs
    done = subprocess.run(
        [sys.executable, "-m", "local.demo", "--member-account"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = done.stdout

    # Then the member account's victim left every target group and the hub's alert names the member account
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    victim = re.search(r"victim\s+(i-[0-9a-f]+)", out).group(1)
    before = out.split("Target health in 111111111111 BEFORE")[1].split("AFTER")[0]
    after = out.split("Target health in 111111111111 AFTER")[1].split("The alert")[0]
    assert victim in before and victim not in after
    assert after.count("bystander") == 4
    assert f"Subject: Spot interruption: {victim} (web-spot-1) terminate in us-east-2a: drained" in out
    assert "Account   111111111111" in out
