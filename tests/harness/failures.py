"""The tests that failed in one tests/run, for the last lines of its log.

CI keeps only the tail of a run's output; the failures of an upstream tested half an hour earlier
would be out of sight there. tests/run has each pytest write a JUnit report and, at exit, this
prints one line per failed or erroring test with the start of its message.

Usage: failures.py REPORT.xml...   (a report's name, less .xml, names the pytest run)

Standard library only.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MESSAGE = 300


def failures(report):
    """(test id, what went wrong) for each failed or erroring test case of one JUnit report."""
    found = []
    for case in ET.parse(report).iter("testcase"):
        for kind in ("failure", "error"):
            for problem in case.findall(kind):
                where = f"{case.get('classname', '')}::{case.get('name', '')}"
                message = " ".join((problem.get("message") or problem.text or "").split())
                found.append((where, f"{kind}: {message[:MESSAGE]}"))
    return found


def main(reports):
    for report in reports:
        path = Path(report)
        try:
            found = failures(path)
        except (OSError, ET.ParseError) as err:
            print(f"  {path.stem}: no report ({err})")
            continue
        for where, what in found:
            print(f"  {path.stem}: {where}: {what}")


if __name__ == "__main__":
    main(sys.argv[1:])
