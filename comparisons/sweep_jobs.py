"""`crosscheck sweep --jobs N`: the seeds in N contiguous shards, each in a process of its own
(which runs its backends in worker processes, as a serial sweep does), side by side. The tallies
are added up in seed order, so the table and the saved failures are the serial run's, byte for
byte. A shard whose process is lost is run again once; lost twice, its seeds are reported as
ERROR and nothing else is lost."""

from multiprocessing.connection import wait

from backprop_crosscheck.comparisons.sweep import Plan, Tally, merge, run_shard, shards
from backprop_crosscheck.comparisons.workers import Worker

TRIES = 2  # a lost shard is run once more


def run_sweep(plan: Plan, n: int, seed: int, jobs: int, progress=None) -> dict:
    if jobs == 1 or n <= 1:
        return run_shard(plan, seed, n, progress)
    pending = {k: (first, count, TRIES) for k, (first, count) in enumerate(shards(n, seed, jobs))}
    results, running = {}, {}
    try:
        while pending or running:
            for k in list(pending)[: jobs - len(running)]:
                first, count, tries = pending.pop(k)
                worker = Worker(f"shard {first}..{first + count - 1}", plan.memory_mib)
                worker.conn.send((run_shard, (plan, first, count)))
                running[worker.conn] = (k, first, count, tries, worker)
            for conn in wait(list(running)):
                k, first, count, tries, worker = running.pop(conn)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    kind, payload = "lost", worker.why_dead()
                worker.stop()
                if kind == "ok":
                    results[k] = payload
                elif tries > 1:
                    pending[k] = (first, count, tries - 1)
                else:
                    results[k] = lost(plan, first, count, payload)
                if progress:
                    progress.update(sum(c for _, (_, c) in _done(results, n, seed, jobs)))
    except BaseException:
        for *_, worker in running.values():
            worker.stop()
        raise
    return merge([results[k] for k in sorted(results)])


def _done(results, n, seed, jobs):
    return [(k, s) for k, s in enumerate(shards(n, seed, jobs)) if k in results]


def lost(plan: Plan, first: int, count: int, why: str) -> dict:
    """The tallies of a shard lost twice: every run of its seeds an ERROR, saying so."""
    line = f"seeds {first}..{first + count - 1}: their shard was lost twice ({why})"
    tallies = {}
    for b in plan.backends:
        for d in plan.dtypes:
            tallies[(b.name, d)] = Tally(cases=count, errors=count, failures=[line])
    return tallies
