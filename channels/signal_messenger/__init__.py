"""Signal through signal-cli-rest-api: a supervised receive websocket in, POST /v2/send out.

Named `signal_messenger`, not `signal`, so it never shadows the standard library's module.
"""

# Doctor reports Signal as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
