"""Where the app may open connections to hosts a tenant names: mail servers and SMTP relays.

`addresses` decides from resolved addresses alone (pure, no sockets); `hosts` resolves names
and connects only to addresses it checked; `clients` gives imaplib, poplib and smtplib that
connection, so a name that changes its answer between the check and the connection (DNS
rebinding) cannot lead them anywhere else. `dkim_keys` looks up the DKIM keys that
`connector.senders` checks signatures with.
"""
