"""Real servers on loopback for the integration tests (Dovecot), started by session fixtures."""
