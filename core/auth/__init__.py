"""Web sign-in: server-side sessions, MFA recovery codes and password reset tokens."""
