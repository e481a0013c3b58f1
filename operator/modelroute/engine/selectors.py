"""Label selectors compiled once into predicates."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from modelroute.api.meta import LabelSelector, SelectorOperator

Labels = Mapping[str, str]
LabelPredicate = Callable[[Labels], bool]


def _always(_: Labels) -> bool:
    return True


def compile_selector(selector: LabelSelector | None) -> LabelPredicate:
    """A None or empty selector matches everything, as in Kubernetes."""
    if selector is None or selector.is_empty:
        return _always
    required = tuple(selector.match_labels.items())
    expressions = tuple((e.key, e.operator, frozenset(e.values)) for e in selector.match_expressions)

    def matches(labels: Labels) -> bool:
        for key, value in required:
            if labels.get(key) != value:
                return False
        for key, operator, values in expressions:
            present = key in labels
            if operator is SelectorOperator.IN:
                if not present or labels[key] not in values:
                    return False
            elif operator is SelectorOperator.NOT_IN:
                if present and labels[key] in values:
                    return False
            elif operator is SelectorOperator.EXISTS:
                if not present:
                    return False
            elif present:
                return False
        return True

    return matches
