"""Push delivery: being told about new mail instead of asking for it (issue 16).

`state` says how each source receives mail, in words an admin can read (`receives` writes
them for the sources list); `idle_watcher` keeps IMAP connections idling and calls back when
a server reports new mail; `graph_push` keeps Microsoft Graph subscriptions for Graph sources
(`graph_api` holds the calls and facts), whose notifications the web process checks
(`webhooks.graph`). Either way the callback only says *which* source to process; processing
is the poll path's, unchanged.
"""
