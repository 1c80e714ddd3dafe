"""`crosscheck sweep --jobs N` and `--dask ADDRESS`: the seeds in contiguous shards of whole
shape families, each shard in a process of its own (which runs its backends in worker
processes, as a serial sweep does), side by side — on this machine, or as tasks on an existing
Dask distributed cluster. The tallies are added up in seed order, so the table and the saved
failures are the serial run's, byte for byte. A shard that is lost (its process killed, its Dask
worker gone) is run again once; lost twice, its seeds are reported as ERROR and nothing else is
lost."""

import concurrent.futures as cf
import os
import threading
from dataclasses import asdict
from multiprocessing.connection import wait

from backprop_crosscheck.comparisons.isolate.workers import Worker, WorkerLost, one_thread_each
from backprop_crosscheck.comparisons.sweep.shards import (
    Interrupted,
    SweepPlan,
    Tally,
    merge,
    run_shard,
    shards,
    sweep,
)

TRIES = 2  # a lost shard is run once more
CONNECT_TIMEOUT = "10s"  # for --dask: how long to wait for the scheduler to answer

# A shard is already a process per framework side by side (every worker, and fd's); a second
# shard on 2 cores imports every framework again and only competes: 100 cases, warm, 11.5 s
# with one shard against 13.8 s with two (docs/benchmark-notes.md)
CORES_PER_SHARD = 4


class ClusterError(Exception):
    """--dask ADDRESS cannot be used (no scheduler there, or dask.distributed missing)."""


def run_sweep(
    plan: SweepPlan, n: int, seed: int, jobs=None, progress=None, dask=None, workers=None
) -> dict:
    """Seeds seed … seed+n−1 in ``jobs`` shards (default: one per CORES_PER_SHARD cores here,
    or every thread of the Dask cluster at ``dask``); {(backend, dtype): Tally}, as the serial
    run gives. ``workers``: the worker processes a one-shard sweep runs in (the caller's, kept
    for its shrinking), else its own."""
    if dask is not None:
        return _on_cluster(plan, n, seed, jobs, progress, dask)
    jobs = jobs or max(1, (os.cpu_count() or 1) // CORES_PER_SHARD)
    if jobs == 1 or n <= 1:
        if workers is not None:
            return sweep(plan, n, seed, progress, workers)
        return run_shard(plan, seed, n, progress)
    started = []

    def submit(first, count):  # the process starts here; a thread waits for its answer
        started.append(start(plan, first, count))
        return pool.submit(receive, started[-1])

    with cf.ThreadPoolExecutor(jobs) as pool:
        try:
            return run_shards(submit, plan, shards(n, seed, jobs), progress)
        except BaseException:  # Ctrl-C: stop every shard now rather than wait for it
            for worker in started:
                worker.stop()
            raise


def _on_cluster(plan, n, seed, jobs, progress, address):
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(
            "--dask needs dask.distributed: pip install 'backprop-crosscheck[dask]'"
        ) from None
    with connect(Client, address) as client:
        jobs = jobs or sum(client.nthreads().values()) or 1
        executor = client.get_executor(pure=False)  # the same shard twice is a retry
        parts = shards(n, seed, jobs)
        return run_shards(
            lambda first, count: executor.submit(shard_in_process, plan, first, count),
            plan,
            parts,
            progress,
        )


def connect(Client, address: str):
    """A Client of the scheduler at ``address``, or ClusterError within CONNECT_TIMEOUT (and a
    second's grace) — also when something there accepts and never answers, where Client's own
    timeout does not end the wait."""
    seconds = float(CONNECT_TIMEOUT.rstrip("s"))
    box = {}

    def attempt():
        try:
            box["client"] = Client(address, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, ValueError for an address
            box["error"] = e

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds + 1)
    if "client" in box:
        return box["client"]
    why = box.get("error", f"nothing answered within {CONNECT_TIMEOUT}")
    raise ClusterError(f"--dask {address}: no Dask scheduler answers there ({why})")


def run_shards(submit, plan: SweepPlan, parts, progress=None) -> dict:
    """``submit(first, count)`` → a future of ("ok", tallies) or ("lost", why), for each shard;
    a lost one (or one whose future raised) submitted once more, then reported as ERROR."""
    futures = {submit(*part): (k, *part, TRIES) for k, part in enumerate(parts)}
    results = {}
    try:
        _gather(futures, submit, plan, parts, results, progress)
    except KeyboardInterrupt:  # the shards that finished are kept, never lost
        raise Interrupted(merge([results[k] for k in sorted(results)])) from None
    return merge([results[k] for k in sorted(results)])


def _gather(futures, submit, plan, parts, results, progress) -> None:
    while futures:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        for future in done:
            k, first, count, tries = futures.pop(future)
            try:
                kind, payload = future.result()
            except Exception as e:  # noqa: BLE001 - e.g. dask's KilledWorker: the shard is lost
                kind, payload = "lost", f"{type(e).__name__}: {e}"
            if kind == "ok":
                results[k] = payload
            elif tries > 1:
                futures[submit(first, count)] = (k, first, count, tries - 1)
            else:
                results[k] = lost(plan, first, count, payload)
            if progress:
                progress.update(sum(parts[j][1] for j in results))


def start(plan: SweepPlan, first: int, count: int) -> Worker:
    """A process of its own running seeds first … first+count−1."""
    worker = Worker(f"shard {first}..{first + count - 1}", plan.memory_mib, one_thread_each())
    worker.ask(plain_shard, (plan, first, count))
    return worker


def plain_shard(plan: SweepPlan, first: int, count: int) -> list:
    """run_shard's tallies as plain data (what crosses back from a worker)."""
    return [[b, d, asdict(t)] for (b, d), t in run_shard(plan, first, count).items()]


def receive(worker: Worker) -> tuple[str, object]:
    """The shard's tallies, ("ok", tallies); or ("lost", why) — then its process is gone."""
    try:
        wait(worker.waitables())
        return "ok", {(b, d): Tally(**t) for b, d, t in worker.answer()}
    except WorkerLost as e:
        return "lost", str(e)
    finally:
        worker.stop()


def shard_in_process(plan: SweepPlan, first: int, count: int) -> tuple[str, object]:
    """The task a Dask worker runs: the shard in a process of its own on that machine."""
    return receive(start(plan, first, count))


def lost(plan: SweepPlan, first: int, count: int, why: str) -> dict:
    """The tallies of a shard lost twice: every run of its seeds an ERROR, saying so."""
    line = f"seeds {first}..{first + count - 1}: their shard was lost twice ({why})"
    tallies = {}
    for b in plan.backends:
        for d in plan.dtypes:
            tallies[(b.name, d)] = Tally(cases=count, errors=count, failures=[line])
    return tallies
