"""Security primitives: passwords, TOTP, encryption at rest."""
