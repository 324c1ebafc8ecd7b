"""AI ad copy: structured output checked against each platform's length limits."""
