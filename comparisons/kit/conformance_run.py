"""``crosscheck conformance NAME …``: the kit's checks for each backend, each backend in its
worker process (a crash, an exit or a hang is that combination's error, the run goes on)."""

from backprop_crosscheck.comparisons.isolate.wire import answer_limit
from backprop_crosscheck.comparisons.isolate.workers import WorkerLost, Workers
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
    with Workers(memory_mib) as workers:
        for done, (backend, case, dtype) in enumerate(combos, start=1):
            outcomes = evaluated(workers, backend, case, dtype, timeout, in_process)
            for check in CHECKS:
                if applies(check, case, dtype):
                    identifier = check_id(check, backend.name, case, dtype)
                    outcome = expected(outcomes[check], identifier, xfail, case_named(case))
                    records.append(Record(backend.name, check, case_label(case), dtype, outcome))
            if progress:
                progress.update(done, f"{backend.name} {case} {dtype}")
    return records


def evaluated(workers, backend, case, dtype, timeout, in_process) -> dict:
    if in_process:
        return evaluate(backend, case, dtype, timeout)
    limit = None if timeout is None else RUNS_PER_EVALUATION * timeout
    try:
        max_bytes = answer_limit(case_named(case))
        asked = workers.call(backend, ask, (backend, case, dtype, timeout), limit, max_bytes)
    except WorkerLost as e:
        return dict.fromkeys(CHECKS, Outcome("error", str(e)))
    if not isinstance(asked, dict):
        lost = Outcome("error", "its worker answered something that is not the kit's questions")
        return dict.fromkeys(CHECKS, lost)
    return verdicts(backend, case, dtype, timeout, asked)  # judged here, in the parent
