"""Objects the gate would otherwise skip by mistake: a group or kind that looks like one it reads.

A RoutePolicy whose apiVersion says `modelroutes.io/v1alpha1` is not a RoutePolicy to any reader that
matches names exactly: it would drop out of the policy context, and the run would judge everything
under the built-in default. A `Deploymnet` would not be judged at all. Both are refused, with the
name the author most likely meant (the stdlib's `difflib`, as `git` and `kubectl` suggest commands).
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from modelroute.api import kinds
from modelroute.api.meta import CLI_GROUP, GROUP, VERSION
from modelroute.engine import POD_TEMPLATE_PATHS

OWN_KIND_NAMES: tuple[str, ...] = tuple(k.kind for k in kinds.OWN_KINDS)
#: the groups of the kinds the gate judges (core, apps, batch), where a misspelt kind would go unjudged
_JUDGED_GROUPS = frozenset({"", "apps", "batch"})
_JUDGED_KIND_NAMES = tuple(POD_TEMPLATE_PATHS)

#: how alike two names must be (difflib's ratio) to be taken as a misspelling: one letter off in
#: `modelroute.io` is 0.96; `monitoring.coreos.com` is 0.44
_GROUP_CUTOFF = 0.8
_OWN_KIND_CUTOFF = 0.6  # inside modelroute.io every kind is ours, so any near one is a suggestion
_JUDGED_KIND_CUTOFF = 0.85  # in the core groups many other kinds exist: only a near miss is refused


def _suggest(word: str, choices: tuple[str, ...], cutoff: float) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    if not found:
        found = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=cutoff)
        found = [choices[[c.lower() for c in choices].index(found[0])]] if found else []
    return found[0] if found else None


def _looks_like_our_group(group: str) -> bool:
    folded = group.lower()
    return folded == GROUP or difflib.SequenceMatcher(None, folded, GROUP).ratio() >= _GROUP_CUTOFF


@lru_cache(maxsize=1024)
def lookalike_problem(api_version: str, kind: str) -> str | None:
    """Why an object with this apiVersion and kind must be refused, or None when it is read as it says.

    Cached: a run meets few distinct (apiVersion, kind) pairs, so the fast path is one dict lookup."""
    group, _, version = api_version.rpartition("/")
    if group == GROUP:
        if kind not in OWN_KIND_NAMES:
            near = _suggest(kind, OWN_KIND_NAMES, _OWN_KIND_CUTOFF)
            hint = f"did you mean {near}?" if near else f"its kinds are {', '.join(OWN_KIND_NAMES)}"
            return f"no kind {kind} in {GROUP}/{VERSION}; {hint}"
        if version != VERSION:
            return f"{GROUP} has no version {version}; {kind} is {GROUP}/{VERSION}"
        return None
    if group == CLI_GROUP:
        return None  # a `modelroute test` file: read by that command, not a manifest to judge
    if group and _looks_like_our_group(group):
        return f"unknown API group {group}; did you mean {GROUP}?"
    if kind in OWN_KIND_NAMES:
        return f"{kind} is a {GROUP}/{VERSION} kind, not {api_version}"
    if group in _JUDGED_GROUPS and kind not in _JUDGED_KIND_NAMES and not kind.endswith("List"):
        near = _suggest(kind, _JUDGED_KIND_NAMES, _JUDGED_KIND_CUTOFF)
        if near is not None:
            return f"no kind {kind} in {api_version}; did you mean {near}?"
    return None
