"""Keep a refactor honest: the JSON report of every built-in case, before and after.

    python scripts/check_report_values.py capture before.json     # on the old commit
    python scripts/check_report_values.py capture after.json      # on the new one
    python scripts/check_report_values.py compare before.json after.json

``capture`` runs ``crosscheck report`` on every built-in case with every installed backend,
both dtypes and the H·v check. ``compare`` exits 1 naming the first path whose value changed or
vanished: keys may be added, none changed.
"""

import json
import subprocess
import sys


def capture(path: str) -> None:
    from backprop_crosscheck.reference import builtin_case_names

    cmd = [sys.executable, "-m", "backprop_crosscheck", "report", *builtin_case_names()]
    cmd += ["--dtype", "all", "--hvp", "--format", "json", "--output", path]
    code = subprocess.run(cmd).returncode
    if code not in (0, 1):
        sys.exit(f"report failed with exit status {code}")


def differences(old, new, where="$"):
    """Every path where ``old`` has a value that ``new`` lacks or changes. Runs are matched by
    case and dtype (a new built-in case adds runs), backends by name."""
    if where.endswith(".runs") or where.endswith(".backends"):
        old, new = keyed(old), keyed(new)
    if isinstance(old, dict):
        if not isinstance(new, dict):
            yield f"{where}: was an object"
            return
        for key, value in old.items():
            if key not in new:
                yield f"{where}.{key}: removed"
            else:
                yield from differences(value, new[key], f"{where}.{key}")
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            yield f"{where}: list changed length or type"
            return
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from differences(a, b, f"{where}[{i}]")
    elif old != new:
        yield f"{where}: {old!r} -> {new!r}"


def keyed(items):
    if not isinstance(items, list):
        return items
    return {f"{x.get('case', '')}/{x.get('dtype', '')}/{x.get('backend', '')}": x for x in items}


def compare(old_path: str, new_path: str) -> int:
    with open(old_path, encoding="utf-8") as f, open(new_path, encoding="utf-8") as g:
        found = list(differences(json.load(f), json.load(g)))
    for line in found[:20]:
        print(line)
    print(f"{len(found)} changed values" if found else "same values (keys may have been added)")
    return 1 if found else 0


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    if command == "capture":
        capture(*paths)
    else:
        sys.exit(compare(*paths))
