"""Forge plumbing: Forge Invocation Tokens and their keys (the routes are webhooks.forge)."""
