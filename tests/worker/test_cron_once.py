"""Two arq workers started at once run each cron tick once (arq's unique cron job ids)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from channels.turns import dump_job, load_job


async def test_two_workers_started_together_run_each_tick_once(redis_url: str) -> None:
    ran: list[int] = []

    async def tick(ctx: dict[str, Any]) -> None:
        # The tick's scheduled second (the job's queue score), whichever worker enqueued it.
        ran.append(int(ctx["score"]) // 1000)

    def worker() -> Worker:
        return Worker(
            cron_jobs=[cron(tick, name="tick", second=set(range(60)), unique=True)],
            redis_settings=RedisSettings.from_dsn(redis_url),
            job_serializer=dump_job,
            job_deserializer=load_job,
            poll_delay=0.05,
            handle_signals=False,
        )

    workers = [worker(), worker()]
    running = [asyncio.create_task(each.main()) for each in workers]
    # Long enough for several ticks; the assertion counts ticks, it times nothing.
    for _ in range(200):
        await asyncio.sleep(0.05)
        if len(set(ran)) >= 3:
            break
    for task in running:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for each in workers:
        await each.close()
    assert len(set(ran)) >= 3
    assert len(ran) == len(set(ran)), f"a tick ran twice: {sorted(ran)}"
