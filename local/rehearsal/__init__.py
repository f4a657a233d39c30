"""The pieces of `make deploy-local` (local/deploy_local.py tells the story and runs them in order):

- `accounts`: the two emulated accounts, hub and member, as boto3 sees them;
- `stacks`: the SAM CLI's `sam build` and `sam deploy` pointed at LocalStack, member/template.yaml in the member
  account, and what the emulated CloudFormation made of each;
- `seeders`: what the rehearsal puts in an account before an event (a Spot instance in a target group, an Auto
  Scaling group with the stack's lifecycle hook, a queue subscribed to the alert topic) and the events themselves;
- `pollers`: the bounded waits for an outcome, and what each outcome was;
- `report`: the DEPLOY line, whether the rehearsal passed, and the tables printed for a person.
"""
