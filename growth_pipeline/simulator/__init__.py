"""The simulated FlowFuse-like platform (SIMULATED data) and the HTTP API it answers through."""
