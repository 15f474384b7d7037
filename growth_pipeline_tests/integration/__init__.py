"""Integration tests against real third-party software (a live FlowFuse platform)."""
