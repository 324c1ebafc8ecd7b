"""approvals domain."""
