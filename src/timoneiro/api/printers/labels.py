"""Label maps and LabelSelectors in the text forms printers show (labels.Set and labels.Selector String())."""

from __future__ import annotations

from timoneiro.api import selectors


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: sorted key=value pairs, "<none>" for none."""
    return ",".join(sorted(f"{k}={v}" for k, v in (labels or {}).items())) or "<none>"


def selector_string(selector: dict | None) -> str:
    """A LabelSelector as labels.Selector.String(): requirements sorted by key; raises on a bad operator."""
    try:
        requirements = selectors.from_label_selector(selector)
    except KeyError as missing:
        raise selectors.SelectorError(f"a requirement has no {missing}") from None
    if not requirements:
        return ""
    return selectors.to_string(tuple(sorted(requirements, key=lambda r: r.key)))


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for a malformed one."""
    try:
        return selector_string(selector) or "<none>"
    except selectors.SelectorError:
        return "<error>"
