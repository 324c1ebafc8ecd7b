"""A real arq worker process for the outbox crash test (`-m tests.worker.outbox_worker_process`).

Built from the environment like `adpilot worker` (WorkerSettings' start-up: database, outbound
channels), serving only the delivery job until it is killed. Not in burst mode: a job killed
with its worker stays queued (arq retries it once its in-progress key expires), so a burst
worker would wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from arq import func
from arq.connections import RedisSettings
from arq.worker import Worker

from channels.turns import dump_job, load_job
from core.config import get_settings
from worker.notifications import JOB_NAME, deliver_notifications
from worker.settings import shutdown, startup


async def main(queue: str) -> None:
    settings = get_settings()
    assert settings.redis_url is not None
    worker = Worker(
        functions=[func(deliver_notifications, name=JOB_NAME, timeout=600, max_tries=1)],
        on_startup=startup,
        on_shutdown=shutdown,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        queue_name=queue,
        handle_signals=False,
        poll_delay=0.05,
        job_serializer=dump_job,
        job_deserializer=load_job,
    )
    try:
        await worker.main()
    finally:
        await worker.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(sys.argv[1]))
