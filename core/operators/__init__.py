"""operators domain: what the installation's operator sees across every org (worker session)."""
