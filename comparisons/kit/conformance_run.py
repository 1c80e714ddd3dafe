"""``crosscheck conformance NAME …``: the kit's checks for each backend, each backend in its
worker process (a crash, an exit or a hang is that combination's error, the run goes on).

With several dtypes and cores, a backend's dtypes run side by side: a lane per dtype (up to the
cores), each with worker processes of its own (one thread each), asked from a thread of its own
that only waits on them. What runs in this process — the reference, the NumPy backends, the
judging — stays in the main thread, in the combinations' order, so the records are those of one
lane. An engine that compiles (JAX: ~7 XLA programs a case and dtype) compiles each dtype's
programs anyway: two lanes on two cores take about half the time."""

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

from backprop_crosscheck.comparisons.isolate.wire import answer_limit
from backprop_crosscheck.comparisons.isolate.workers import WorkerLost, Workers, one_thread_each
from backprop_crosscheck.comparisons.kit.conformance import (
    CHECKS,
    Outcome,
    applies,
    ask,
    case_label,
    case_named,
    check_id,
    evaluate,
    expected,
    verdicts,
)
from backprop_crosscheck.comparisons.kit.scoreboard import Record

RUNS_PER_EVALUATION = 12  # backend runs one evaluation may make: its time limit's multiple


def run_conformance(
    backends, cases, dtypes, xfail, timeout, memory_mib=0, in_process=False, progress=None
) -> list[Record]:
    records = []
    combos = [(b, c, d) for b in backends for c in cases for d in dtypes]
    lanes = 1 if in_process else max(1, min(len(dtypes), os.cpu_count() or 1))
    with contextlib.ExitStack() as stack:
        env = one_thread_each() if lanes > 1 else None  # lanes side by side: a thread each
        pools = [stack.enter_context(Workers(memory_mib, env)) for _ in range(lanes)]
        answers = asking(stack, pools, combos, dtypes, timeout)
        for done, (backend, case, dtype) in enumerate(combos, start=1):
            if (backend, case, dtype) in answers:  # its lane's worker answered: judged here
                asked = answers[backend, case, dtype].result()
                outcomes = judged(backend, case, dtype, timeout, asked)
            else:
                outcomes = evaluated(pools[0], backend, case, dtype, timeout, in_process)
            for check in CHECKS:
                if applies(check, case, dtype):
                    identifier = check_id(check, backend.name, case, dtype)
                    outcome = expected(outcomes[check], identifier, xfail, case_named(case))
                    records.append(Record(backend.name, check, case_label(case), dtype, outcome))
            if progress:
                progress.update(done, f"{backend.name} {case} {dtype}")
    return records


def asking(stack, pools, combos, dtypes, timeout) -> dict:
    """With more than one lane: {combination: a future of what its worker answered} for every
    combination a worker runs, each lane's asked in order by a thread of its own (shut down,
    the rest cancelled, when the run ends or is interrupted)."""
    if len(pools) == 1:
        return {}
    threads = [ThreadPoolExecutor(1, "conformance-lane") for _ in pools]
    for thread in threads:
        stack.callback(thread.shutdown, wait=False, cancel_futures=True)
    answers = {}
    for backend, case, dtype in combos:
        lane = dtypes.index(dtype) % len(pools)
        if pools[lane].group(backend) is not None:  # a worker's; the rest: here, in order
            answers[backend, case, dtype] = threads[lane].submit(
                asked_of, pools[lane], backend, case, dtype, timeout
            )
    return answers


def evaluated(workers, backend, case, dtype, timeout, in_process) -> dict:
    """Every check's Outcome of one combination: asked (in its worker), then judged here."""
    if in_process:
        return evaluate(backend, case, dtype, timeout)
    return judged(backend, case, dtype, timeout, asked_of(workers, backend, case, dtype, timeout))


def asked_of(workers, backend, case, dtype, timeout):
    """What the backend answered the kit's questions (``ask``), or an Outcome saying why none."""
    limit = None if timeout is None else RUNS_PER_EVALUATION * timeout
    try:
        max_bytes = answer_limit(case_named(case))
        asked = workers.call(backend, ask, (backend, case, dtype, timeout), limit, max_bytes)
    except WorkerLost as e:
        return Outcome("error", str(e))
    if not isinstance(asked, dict):
        return Outcome("error", "its worker answered something that is not the kit's questions")
    return asked


def judged(backend, case, dtype, timeout, asked) -> dict:
    """The combination's Outcomes from its answers, judged here, in the parent."""
    if isinstance(asked, Outcome):
        return dict.fromkeys(CHECKS, asked)
    return verdicts(backend, case, dtype, timeout, asked)
