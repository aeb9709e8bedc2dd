"""The metric names a PromQL query reads, without a PromQL parser: enough to tell whether a
dashboard panel or an alert rule queries a metric that exists.

Strings and `#` comments, label matchers, range selectors, grouping clauses and Grafana's
`$variables` are removed first; what remains that looks like a name and is not a function call
(a name followed by `(`) or a keyword is a metric name. Strings and comments go in one
left-to-right pass: a `#` inside a string starts no comment, and a quote inside a comment (the
lab's query blocks carry `# set this up as the first query`) opens no string.
"""

from __future__ import annotations

import re

# Each pattern ends at its closing character or at the end of the text, so a construct left
# open (a hostile 1 MiB of `{{{{` or `"\\"\\"`) is consumed once instead of being searched
# again from every later start: every pass is linear in the length of the expression.
# A string, or (group 1) a comment: `#` to the end of its line.
_STRINGS = re.compile(
    r'"(?:[^"\\]|\\.?)*(?:"|\Z)|\'(?:[^\'\\]|\\.?)*(?:\'|\Z)|`[^`]*(?:`|\Z)|(#[^\n]*)', re.S
)
_VARIABLES = re.compile(r"\$\{[^}]*(?:\}|\Z)|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*(?:\}|\Z)")
_RANGES = re.compile(r"\[[^\]]*(?:\]|\Z)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*(?:\)|\Z)")
# A name, and whether a call's `(` follows it (then it is a function, not a metric).
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
KEYWORDS = frozenset(
    "and or unless by without on ignoring group_left group_right bool offset atan2 inf nan".split()
)


def metric_names(expr: str) -> set[str]:
    """Metric names in `expr`, e.g. {"http_requests_total"} for
    `sum(rate(http_requests_total{status=~"5xx"}[$__rate_interval])) by (handler)`.

    Linear in the length of `expr`: a dashboard is the student's, up to 1 MiB."""
    text = _STRINGS.sub(lambda m: " " if m.group(1) is not None else '""', expr)
    text = _VARIABLES.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {
        m.group(1)
        for m in _NAME.finditer(text)
        if not m.group(2) and m.group(1).lower() not in KEYWORDS
    }
