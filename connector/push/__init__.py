"""Push delivery: being told about new mail instead of asking for it (issue 16).

`state` says how each source receives mail, in words an admin can read; `idle_watcher` keeps
IMAP connections idling and calls back when a server reports new mail. The callback only
says *which* source to process; processing is the poll path's, unchanged.
"""
