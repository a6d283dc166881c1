"""Sender authentication: may a message be attributed to the address in its From: line?

Mail headers are the sender's own words. A message counts as from address A only when it is
authenticated for A's domain: a DKIM signature (RFC 6376) that verifies and is aligned with
the From: domain (DMARC relaxed alignment, RFC 7489 §3.1.1), or DMARC pass recorded in an
Authentication-Results header (RFC 8601) written by a receiving server the source trusts.

Everything here is pure: `verify` takes the DKIM key lookup as a function, which is
`connector.net.dkim_keys.lookup_dkim_key` in production, and a table of keys in tests.
"""
