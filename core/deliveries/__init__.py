"""deliveries domain."""
