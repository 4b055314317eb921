"""A process that takes part in a shared grid search, for tests/test_search.py.

    python tests/search_process.py STORAGE LOG [--hang-on HIDDEN]

Runs `digitcourse.search.run` over GRID in the study "shared" of STORAGE (heartbeat 1 s), scoring each
setting slowly and appending a line `<pid> <hidden> <activation>` to LOG as it starts scoring it. With
--hang-on, the setting with that `hidden` never finishes (the test kills the process there). At the
end it prints the result's table as JSON.
"""
from __future__ import annotations

import argparse
import os
import time

from digitcourse import search

GRID = {"hidden": [16, 32, 64, 128], "activation": ["relu", "tanh", "gelu"]}
SCORING_S = 0.3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("storage")
    parser.add_argument("log")
    parser.add_argument("--hang-on", type=int)
    args = parser.parse_args()

    def objective(params: dict) -> float:
        with open(args.log, "a") as log:
            log.write(f"{os.getpid()} {params['hidden']} {params['activation']}\n")
        while params["hidden"] == args.hang_on:
            time.sleep(1)
        time.sleep(SCORING_S)
        return params["hidden"] / 100 + (params["activation"] == "tanh") / 2

    result = search.run(objective, GRID, method="grid", storage=args.storage, study_name="shared", heartbeat=1)
    print(result.table.to_json(orient="records"))


if __name__ == "__main__":
    main()
