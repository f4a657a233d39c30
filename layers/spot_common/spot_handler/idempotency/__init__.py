"""Idempotency: one alert and one checkpoint per interruption, one effect per follow-up look, however often their
messages arrive. Claims are Powertools idempotency records composed into DynamoDB transactions (claims.py, whose
docstring says how and why); the DynamoDB calls themselves are in aws/dynamodb.py."""
