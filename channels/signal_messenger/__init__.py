"""Signal through signal-cli-rest-api: a supervised receive websocket in, POST /v2/send out.

Named `signal_messenger`, not `signal`, so it never shadows the standard library's module.
"""

# Not served yet: the receiver and the app's wiring come next (channels/catalog.py).
CHANNEL_READY = False
