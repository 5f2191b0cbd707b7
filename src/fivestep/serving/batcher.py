"""`Batcher`: requests arriving together are predicted in one call, bounded in rows and wait.

One worker task takes the first waiting request, lets others join it for at most
`max_wait_ms` or until `max_batch_rows` rows are gathered, then runs the predictor
once on all their rows, in a single worker thread (so the event loop keeps reading
requests meanwhile and PyTorch's own threads do the arithmetic), and hands each
request its slice of the answer. While the model is busy the next requests queue
up, so under load batches fill without any waiting; alone, a request waits at most
`max_wait_ms`.

A batch is answered exactly as its requests would be one by one: the preprocessing is
row by row. The one exception is a refusal that looks at a whole column (a numeric
column with no value at all in several rows, as `predict.py` refuses in a file):
when the joint call raises a `UserError`, each request of the batch is predicted
alone, so each gets its own answer or its own refusal.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fivestep.errors import UserError
from fivestep.serving.rows import Rows

log = logging.getLogger(__name__)


@dataclass
class _Job:
    rows: Rows
    done: asyncio.Future = field(repr=False)


class Batcher:
    """Gather requests' rows into batches for `answer` (rows -> one answer per row).

    Args:
        answer: the rows' answers, in order; called in one worker thread.
        max_batch_rows: rows per call at most (one request larger than this goes alone).
        max_wait_ms: how long the first request of a batch waits for company.
    """

    def __init__(self, answer: Callable[[Rows], list[Any]], max_batch_rows: int,
                 max_wait_ms: float) -> None:
        self.answer = answer
        self.max_batch_rows, self.max_wait = max_batch_rows, max_wait_ms / 1000
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="predict")
        self.worker: asyncio.Task | None = None
        self._held: _Job | None = None  # the request that did not fit into the last batch
        self.batches = 0
        self.busy = False  # a batch is being gathered or predicted

    async def start(self) -> None:
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker and its thread."""
        while not self.queue.empty() or self._held is not None or self.busy:
            await asyncio.sleep(0.005)
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
        self.thread.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done()

    async def submit(self, rows: Rows) -> list[Any]:
        """The answers for `rows` (raises the `UserError` of these rows)."""
        job = _Job(rows, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        return await job.done

    async def _gather(self) -> list[_Job]:
        first = self._held or await self.queue.get()
        self._held = None
        self.busy = True  # from here until its answers are handed out
        jobs, n = [first], first.rows.n
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while n < self.max_batch_rows:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), left)
                except TimeoutError:
                    break
            if n + job.rows.n > self.max_batch_rows:
                self._held = job
                break
            jobs.append(job)
            n += job.rows.n
        return jobs

    def _run(self, jobs: list[_Job]) -> list[list[Any] | BaseException]:
        """In the worker thread: one call for all jobs; alone each after a `UserError`."""
        if len(jobs) > 1:
            try:
                together = self.answer(Rows.join([j.rows for j in jobs]))
            except UserError:
                pass  # a whole-column refusal of the joint rows: judge each request alone
            else:
                answers, start = [], 0
                for job in jobs:
                    answers.append(together[start : start + job.rows.n])
                    start += job.rows.n
                return answers
        answers = []
        for job in jobs:
            try:
                answers.append(self.answer(job.rows))
            except Exception as err:  # handed to the request's handler, which decides
                answers.append(err)
        return answers

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._gather()
            try:
                answers = await loop.run_in_executor(self.thread, self._run, jobs)
            except Exception as err:  # the joint call failed otherwise: every job gets it
                answers = [err] * len(jobs)
            self.batches += 1
            self.busy = False
            for job, answer in zip(jobs, answers, strict=True):
                if job.done.done():  # the client went away
                    continue
                if isinstance(answer, BaseException):
                    job.done.set_exception(answer)
                else:
                    job.done.set_result(answer)
