"""A channel module that exists but has not declared itself ready."""
