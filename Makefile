# Targets a newcomer can guess. Each works on a fresh clone: the first thing each does is build .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv demo check test unit integration harness style lint build deploy deploy-local bench bench-mixed bench-org \
	e2e reliability drill clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed  ## create the virtual environment with every tool

# checkov pins libraries of its own: it gets a virtual environment of its own, used by tests/template.
$(VENV)-checkov: $(VENV)-checkov/.installed
$(VENV)-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(VENV)-checkov
	$(VENV)-checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

demo: venv  ## one interruption end to end on a local AWS with no account (ARGS=--lifecycle: a lifecycle hook too; ARGS=--member-account: hub and spoke; ARGS=--missed: a warning that never came, a hibernated instance restored)
	$(BIN)/python -m local.demo $(ARGS)

# The inner loop: what a change to the code or the template must pass before anything slower. Four pytest workers
# (pytest-xdist) on two cores: the tests are independent, each with its own in-process moto account, and the slowest
# ones wait in real time for a dependency made to hang, so a third and a fourth worker overlap those waits.
# worksteal: an idle worker takes queued tests over. The Hypothesis properties run a fifth of their examples here
# (PROPERTY_EXAMPLES); `make test`, what CI runs, keeps all 1,500.
JOBS ?= 4
CHECK_PROPERTY_EXAMPLES ?= 300
check: style  ## ruff, then unit and integration tests on four workers: no Docker, no LocalStack (under 3 min)
	PROPERTY_EXAMPLES=$(CHECK_PROPERTY_EXAMPLES) $(BIN)/python -m pytest -n $(JOBS) --dist worksteal -q -p no:cacheprovider tests/unit tests/integration

test: venv $(VENV)-checkov style  ## the whole test suite (what CI runs), static checks included
	$(BIN)/python -m pytest

unit: venv  ## unit tests only
	$(BIN)/python -m pytest tests/unit

integration: venv  ## handler against moto, in-process
	$(BIN)/python -m pytest tests/integration

harness: venv  ## tests of the local harness itself: GameLift fake, moto fixes, demo, bench smoke
	$(BIN)/python -m pytest tests/harness

e2e: venv  ## sam build + sam local invoke of every file in events/ in Docker against moto (starts Docker if needed)
	$(BIN)/python -m pytest -m e2e tests/e2e

style: venv  ## ruff check and ruff format --check over the whole repository
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: style $(VENV)-checkov  ## ruff, then the template's static checks alone (cfn-lint, sam validate, checkov, parliament, bandit)
	$(BIN)/python -m pytest -m template tests/template/test_static_checks.py -q

build: venv  ## sam build (needs a python3.13 on PATH or under pyenv)
	PATH="$$(tools/offline_lambda/find_python.sh 3.13 | xargs dirname):$$PATH" $(BIN)/sam build

deploy: build  ## sam deploy --guided into your account
	$(BIN)/sam deploy --guided

deploy-local: venv  ## dress rehearsal of `sam deploy`: sam build + sam deploy --config-env local into LocalStack on this machine, a Spot warning and a lifecycle action through the stack, a member account's warning through the hub
	$(BIN)/python -m local.deploy_local

bench: venv  ## mass reclaim (1,000 notices) and quiet notices (20, one at a time), ours against a per-notice baseline, and the cold start (about 10 min)
	$(BIN)/python -m bench $(ARGS)

bench-mixed: venv  ## the same with a mixed fleet: target groups, ECS container instances, Classic Load Balancers
	$(BIN)/python -m bench --mixed --no-cold-start $(ARGS)

bench-org: venv  ## the same over 5 accounts: a hub and 4 members (hub and spoke), AssumeRole calls against their bound
	$(BIN)/python -m bench --accounts 5 --no-cold-start $(ARGS)

reliability: venv  ## 1,000+ notices through SQS with injected AWS faults; ends with the RESULT line (about 1 min)
	$(BIN)/python -m pytest -m reliability tests/reliability -q -p no:cacheprovider

clean:  ## remove build output and local run state
	rm -rf .aws-sam .local-run .pytest_cache

STACK ?= spot-interruption-handler
drill:  ## print the AWS CLI commands of a Spot interruption drill (STACK=, REGION=; RESOLVE=1 reads the stack outputs)
	@STACK="$(STACK)" REGION="$(REGION)" RESOLVE="$(RESOLVE)" tools/drill.sh
