"""JUnit XML of the tasks: read per test case, and merged into one document.

The XML comes from the pytest runs of the regression itself; it is parsed with
ElementTree and never evaluated.
"""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["JUnitCase", "junit_address", "parse_junit", "merge_suites", "case_element"]

OUTCOME_ORDER = ("failed", "error", "skipped")


@dataclass(frozen=True)
class JUnitCase:
    """One ``<testcase>``: its address, outcome, failure message and text, seconds."""

    classname: str
    name: str
    outcome: str
    message: str
    text: str
    seconds: float


def junit_address(nodeid: str) -> tuple[str, str]:
    """The (classname, name) pytest's JUnit XML gives the test ``nodeid``.

    Mirrors ``_pytest.junitxml.mangle_test_address``: the file path becomes a dotted
    module path without ``.py``, classes join it, parameters stay on the name.
    """
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parse_junit(xml_text: str) -> tuple[ET.Element, list[JUnitCase]]:
    """The root element and the test cases of a pytest JUnit XML (raises ET.ParseError)."""
    root = ET.fromstring(xml_text)
    cases = []
    for case in root.iter("testcase"):
        outcome, message, text = "passed", "", ""
        for child_tag, child_outcome in (("failure", "failed"), ("error", "error"),
                                         ("skipped", "skipped")):
            child = case.find(child_tag)
            if child is not None:
                outcome = child_outcome
                message = child.get("message", "")
                text = child.text or ""
                break
        cases.append(JUnitCase(case.get("classname", ""), case.get("name", ""), outcome,
                               message, text, float(case.get("time", 0) or 0)))
    return root, cases


def case_element(nodeid: str, outcome: str, message: str = "", text: str = "",
                 seconds: float = 0.0) -> ET.Element:
    """A ``<testcase>`` for a test whose task wrote no XML for it (crash, timeout, lost)."""
    classname, name = junit_address(nodeid)
    case = ET.Element("testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    if outcome == "failed":
        ET.SubElement(case, "failure", message=message).text = text
    elif outcome == "skipped":
        ET.SubElement(case, "skipped", message=message).text = text
    elif outcome != "passed":
        ET.SubElement(case, "error", message=f"{outcome}: {message}").text = text
    return case


def merge_suites(suites: list[ET.Element]) -> ET.ElementTree:
    """One ``<testsuites>`` document; each suite's counts recomputed from its cases."""
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    document = ET.Element("testsuites", name="rdu regress")
    for suite in suites:
        counts = dict.fromkeys(totals, 0)
        for case in suite.iter("testcase"):
            counts["tests"] += 1
            for tag, key in (("failure", "failures"), ("error", "errors"),
                             ("skipped", "skipped")):
                if case.find(tag) is not None:
                    counts[key] += 1
                    break
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        seconds += float(suite.get("time", 0) or 0)
        document.append(suite)
    for key, value in totals.items():
        document.set(key, str(value))
    document.set("time", f"{seconds:.3f}")
    tree = ET.ElementTree(document)
    ET.indent(tree)
    return tree
