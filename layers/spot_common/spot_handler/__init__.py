"""Shared code of the Spot interruption handler: notice model, planning, alert text and AWS adapters.

Read `flow.handle_notices` first: it is the whole story of one batch of interruption notices.
"""
