"""Span names that stay low-cardinality: Channels names mapped to templates.

A span name must not contain a per-connection channel name (``specific.ab12!cd34``) or a
per-user group name (``user.42``): every distinct name would be a distinct span name in the
tracing backend. ``NameTemplates`` maps a destination name to a template:

1. the first ``tracing_name_templates`` entry whose pattern matches (a glob string or a
   compiled regex, matched against the whole name) gives its template, as written;
2. otherwise a process-specific channel ``X.TOKEN!SUFFIX`` becomes ``X.*!*``;
3. otherwise the name itself (normal channels and fixed groups are few).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

CACHE_SIZE = 4096


class NameTemplates:
    """Maps channel and group names to span-name templates (results cached)."""

    def __init__(self, rules: tuple[tuple[re.Pattern[str], str], ...] = ()) -> None:
        self.rules = rules
        self._cache: dict[str, str] = {}

    def template(self, name: str) -> str:
        cached = self._cache.get(name)
        if cached is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[name] = self._lookup(name)
        return cached

    def _lookup(self, name: str) -> str:
        for pattern, template in self.rules:
            if pattern.fullmatch(name):
                return template
        if "!" in name:
            head = name[: name.index("!")]
            return f"{head.rsplit('.', 1)[0]}.*!*" if "." in head else "*!*"
        return name


def compile_rules(value: Any) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Check the ``tracing_name_templates`` CONFIG value: pairs of (pattern, template)."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = list(value.items())
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError("CONFIG 'tracing_name_templates' must be a list of "
                        f"(pattern, template) pairs, got {value!r}")
    rules = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise TypeError("CONFIG 'tracing_name_templates' entries must be "
                            f"(pattern, template) pairs, got {pair!r}")
        pattern, template = pair
        if isinstance(pattern, str):
            pattern = re.compile(fnmatch.translate(pattern))
        elif not isinstance(pattern, re.Pattern):
            raise TypeError("CONFIG 'tracing_name_templates' patterns must be glob strings "
                            f"or compiled regexes, got {pattern!r}")
        if not isinstance(template, str) or not template:
            raise TypeError("CONFIG 'tracing_name_templates' templates must be non-empty "
                            f"strings, got {template!r}")
        rules.append((pattern, template))
    return tuple(rules)
