"""The metric names a PromQL query reads, without a PromQL parser: enough to tell whether a
dashboard panel or an alert rule queries a metric that exists.

Strings, label matchers, range selectors, grouping clauses and Grafana's `$variables` are
removed first; what remains that looks like a name and is not a function call (a name followed
by `(`) or a keyword is a metric name.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
KEYWORDS = frozenset(
    "and or unless by without on ignoring group_left group_right bool offset atan2 inf nan".split()
)


def metric_names(expr: str) -> set[str]:
    """Metric names in `expr`, e.g. {"http_requests_total"} for
    `sum(rate(http_requests_total{status=~"5xx"}[$__rate_interval])) by (handler)`."""
    text = _STRINGS.sub('""', expr)
    text = _VARIABLES.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _NAME.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in KEYWORDS:
            continue
        names.add(m.group())
    return names
