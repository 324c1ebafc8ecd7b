"""channels/cli."""
