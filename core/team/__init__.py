"""team domain: invitations, roles, deactivation and the org's audit view."""
