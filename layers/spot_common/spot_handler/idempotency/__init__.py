"""Idempotency: one alert and one checkpoint per interruption, one effect per follow-up look, however often their
messages arrive. Claims are Powertools idempotency records (records.py) composed into DynamoDB transactions
(claims.py, whose docstring says how and why); what a claim comes to is in results.py, a batch's claims across
(account, region) groups in batch.py; the DynamoDB calls themselves are in aws/dynamodb.py."""
