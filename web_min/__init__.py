"""web_min."""
