"""The `crosscheck` command."""

import argparse
import sys

import numpy as np
from tabulate import tabulate

from reference import CaseError, load_case, train
from reference.network import forward


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="crosscheck")
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="the reference's numbers for a case")
    report.add_argument("case", nargs="?", default="article")
    args = parser.parse_args(argv)
    try:
        case = load_case(args.case)
    except CaseError as e:
        print(f"crosscheck: {e}", file=sys.stderr)
        return 2
    result = train(case)
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    print(f"case {case.name}: forward pass")
    rows = [[f"h{j + 1}", v] for j, v in enumerate(fwd.a[1][0])]
    rows += [["prediction", fwd.prediction[0, 0]], ["Error", fwd.loss]]
    rows += [["Δ", (fwd.prediction - case.targets)[0, 0]]]
    print(tabulate(rows, floatfmt=".7g"))
    print()
    rows = []
    for tensor, grad in result.gradients.items():
        if tensor == "X":
            continue
        for index in np.ndindex(grad.shape):
            label = case.scalar_label(tensor, index)
            before = case.parameters()[tensor][index]
            rows.append([label, before, grad[index], result.updated[tensor][index]])
    rows.sort()
    print(tabulate(rows, headers=["weight", "value", "dE/dw", "updated"], floatfmt=".7g"))
    return 0
