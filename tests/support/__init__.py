"""Helpers for tests that need real external services (started locally, on loopback)."""
