"""Counts what a schemathesis NDJSON report holds.

    python3 count.py requests REPORT.ndjson   # HTTP requests sent
    python3 count.py failures REPORT.ndjson   # distinct failed checks

The report is one engine event a line; every request schemathesis made is
an interaction (an object with "request" and "response") in the recorders
of the ScenarioFinished events, and every check result is an object with
"name" and "status".
"""

import json
import sys


def walk(value, seen):
    if isinstance(value, dict):
        req = value.get("request")
        if isinstance(req, dict) and "response" in value and "method" in req:
            seen["requests"] += 1
        if (
            isinstance(value.get("name"), str)
            and value.get("status") in ("failure", "FAILURE")
            and "failure_info" in value
        ):
            info = value.get("failure_info") or {}
            failure = info.get("failure") if isinstance(info, dict) else None
            key = json.dumps(
                [value.get("name"), failure.get("title") if isinstance(failure, dict) else None,
                 failure.get("message") if isinstance(failure, dict) else None],
                sort_keys=True,
            )
            seen["failures"].add(key)
        for v in value.values():
            walk(v, seen)
    elif isinstance(value, list):
        for v in value:
            walk(v, seen)


def main():
    what, path = sys.argv[1], sys.argv[2]
    seen = {"requests": 0, "failures": set()}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    walk(json.loads(line), seen)
    except FileNotFoundError:
        pass
    print(seen["requests"] if what == "requests" else len(seen["failures"]))


if __name__ == "__main__":
    main()
