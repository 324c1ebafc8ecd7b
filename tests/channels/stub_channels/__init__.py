"""Stand-in channel modules for the catalog tests: one ready, one without the readiness marker."""
