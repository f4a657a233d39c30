#!/usr/bin/env bash
# Print the AWS CLI commands of a Spot interruption drill against a deployed stack (AWS FIS sends a real two-minute
# Spot interruption warning to ONE running Spot instance tagged SpotInterruptionDrill=<value>).
#
# It prints, it never runs them. Without an account it prints placeholders; with RESOLVE=1 it reads the stack's
# outputs once (aws cloudformation describe-stacks) and prints the commands with the real ids.
#
#   STACK=spot-handler REGION=us-east-2 tools/drill.sh
#   STACK=spot-handler REGION=us-east-2 RESOLVE=1 tools/drill.sh
set -euo pipefail

STACK="${STACK:-spot-interruption-handler}"
REGION="${REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-<region>}}}"
TEMPLATE_ID='<SpotDrillExperimentTemplateId output>'
TAG_VALUE="${STACK}"  # the drill tag's value is the stack's name (output SpotDrillTag)
FUNCTION='<InterruptionHandlerFunctionName output>'
DASHBOARD='<DashboardName output>'
LOG_GROUP="/aws/lambda/${STACK}-interruption-handler"
ALERT_TOPIC='<AlertTopicArn output>'

if [[ "${RESOLVE:-0}" == "1" ]]; then
  outputs="$(aws cloudformation describe-stacks --stack-name "$STACK" --region "$REGION" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)"
  output() { awk -v key="$1" '$1 == key { $1 = ""; sub(/^ /, ""); print }' <<<"$outputs"; }
  TEMPLATE_ID="$(output SpotDrillExperimentTemplateId)"
  if [[ -z "$TEMPLATE_ID" ]]; then
    echo "# Stack $STACK has no drill: deploy it with EnableSpotDrill=true first (step 1)." >&2
    TEMPLATE_ID='<SpotDrillExperimentTemplateId output>'
  fi
  tag="$(output SpotDrillTag)"
  [[ -n "$tag" ]] && TAG_VALUE="${tag#SpotInterruptionDrill=}"
  FUNCTION="$(output InterruptionHandlerFunctionName)"
  DASHBOARD="$(output DashboardName)"
  LOG_GROUP="$(output InterruptionHandlerLogGroupName)"
  ALERT_TOPIC="$(output AlertTopicArn)"
fi

cat <<EOF
# Spot interruption drill for stack ${STACK} in ${REGION}
# The instance you tag WILL be interrupted (terminated, stopped or hibernated per its Spot settings) two minutes
# after the warning. Pick one that its Auto Scaling group or fleet replaces, outside peak hours.

# 1. Create the experiment template (once): redeploy with the drill switched on.
sam deploy --stack-name ${STACK} --region ${REGION} --parameter-overrides EnableSpotDrill=true

# 2. Look at the one instance you chose (must be a running Spot instance) and tag it for the drill.
aws ec2 describe-instances --region ${REGION} --instance-ids <instance-id> \\
  --query 'Reservations[].Instances[].[InstanceId,InstanceLifecycle,State.Name,Tags]'
aws ec2 create-tags --region ${REGION} --resources <instance-id> --tags 'Key=SpotInterruptionDrill,Value=${TAG_VALUE}'

# 3. Check nothing else carries the tag (the template interrupts ONE of them, chosen by FIS).
aws ec2 describe-instances --region ${REGION} \\
  --filters 'Name=tag:SpotInterruptionDrill,Values=${TAG_VALUE}' 'Name=instance-state-name,Values=running' \\
  --query 'Reservations[].Instances[].InstanceId'

# 4. Start the drill.
aws fis start-experiment --region ${REGION} --experiment-template-id ${TEMPLATE_ID} --tags Name=${STACK}-spot-drill

# 5. Watch it: the experiment, the handler's log, the dashboard, the alert on the topic's subscribers.
aws fis get-experiment --region ${REGION} --id <experiment-id> --query 'experiment.state'
aws logs tail ${LOG_GROUP} --region ${REGION} --follow --since 10m
aws cloudwatch get-dashboard --region ${REGION} --dashboard-name ${DASHBOARD} --query DashboardName
aws sns list-subscriptions-by-topic --region ${REGION} --topic-arn ${ALERT_TOPIC}

# 6. Abort at any time before the two minutes are up (the stop conditions abort it too when the handler fails).
aws fis stop-experiment --region ${REGION} --id <experiment-id>

# 7. Clean up: untag the instance (or its replacement), and remove the template when drills are over.
aws ec2 delete-tags --region ${REGION} --resources <instance-id> --tags Key=SpotInterruptionDrill
sam deploy --stack-name ${STACK} --region ${REGION} --parameter-overrides EnableSpotDrill=false
EOF
