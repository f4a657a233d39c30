"""Where an alert goes besides the e-mail text and the JSON document of alert.py.

- chat.py: the chat message (Amazon Q Developer in chat applications custom notification), carried by the alert
  itself under its "https" key, in one thread per incident;
- events.py: the alert put on an EventBridge bus as well, behind the SNS alert, never in its way.
"""
