"""Forge plumbing: Forge Invocation Tokens and their keys, and the app system token's expiry
(the routes are webhooks.forge; installations are stored by connector.storage)."""
