"""Forge plumbing: Forge Invocation Tokens, their keys, and the Forge Remote routes."""
