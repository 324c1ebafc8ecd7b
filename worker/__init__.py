"""The worker: arq jobs on Redis, started by `adpilot worker`."""
