"""A channel module that declares itself ready, as a real one does."""

CHANNEL_READY = True
