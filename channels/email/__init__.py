"""Email through Resend's HTTP API: alert destinations and transactional mail."""
