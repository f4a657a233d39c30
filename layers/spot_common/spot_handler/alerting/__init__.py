"""Alerts: one envelope for every message of an incident, in every form its subscribers read.

- envelope.py: an alert as SNS takes it (MessageStructure json: "default" JSON, "email" text, "sms", "https" chat);
- first_alert.py: the incident's first alert (subject, e-mail text, JSON document), within SNS's size;
- follow_up_alert.py: its later alerts, from its looks (drain-unfinished, lifecycle-unconfirmed, ...);
- chat.py: the custom notification Amazon Q Developer in chat applications shows (the "https" key);
- events.py: every alert SNS accepted, put on an EventBridge bus too;
- publishing.py: the PublishBatch stream the (account, region) groups of a batch share;
- text.py: what makes alert text safe and short.
The AWS calls are in aws/sns.py and aws/events.py.
"""
