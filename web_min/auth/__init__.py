"""Web sign-in: session cookies, CSRF, and the dependencies every page uses."""
