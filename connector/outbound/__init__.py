"""Outbound mail: tell customers without Jira accounts what happened, and thread their answers.

Jira webhooks are recorded (`intake`), decided and composed in the worker (`notify`,
`compose`, `templates`), queued per recipient (`connector.storage.outbox`) and sent with
retries (`worker`, `transport`, `smtp`, `graph_send`). `acknowledge` answers new mail,
`retention` forgets message content after the tenant's retention period.
"""
