"""A CR's code scope (pure): the ``qms-scope`` fenced block, systems' path prefixes, and the
one decision whether a path may change (:meth:`InForce.allows`).

The block, in the CR's text (YAML between the fences)::

    ```qms-scope
    system: APP
    paths: [src/app/auth/**, tests/test_auth*.py]
    exclude: [src/app/auth/keys.py]
    expect: [src/app/auth/login.py]
    requirements: revise        # or: unchanged
    exploratory: false
    ```

Patterns are repository-relative, with ``.gitignore`` semantics (``pathspec``); each must
be anchored (hold a ``/``) inside one of its system's path prefixes. Paths are matched as
git stores them (str, bytes that are not UTF-8 as surrogates), newlines and all.
"""

from __future__ import annotations

import re

from qms.errors import ValidationError

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterable

FENCE_INFO = "qms-scope"
KEYS = ("system", "paths", "exclude", "expect", "requirements", "exploratory")
REQUIREMENTS = ("revise", "unchanged")
# qms's own data: never inside a system, never pushed to a CR branch (top level, any case)
PROTECTED = ("qms", ".qms", ".claude", "qms.config.json", ".qms-work", ".git")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_GLOB = re.compile(r"[*?\[\\]")
SYSTEM_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}\Z")


class Scope:
    """One parsed block: ``system``, ``paths``, ``exclude``, ``expect``, ``requirements``,
    ``exploratory``."""

    def __init__(self, system: str, paths: list[str], exclude: list[str], expect: list[str],
                 requirements: str, exploratory: bool) -> None:
        self.system, self.paths, self.exclude = system, paths, exclude
        self.expect, self.requirements, self.exploratory = expect, requirements, exploratory
        self._specs: tuple[Any, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in KEYS}

    def includes(self, path: str) -> bool:
        """``path`` matches ``paths`` and not ``exclude`` (system prefixes not considered)."""
        if self._specs is None:
            from pathspec import GitIgnoreSpec  # loads only when a path is judged

            self._specs = (GitIgnoreSpec.from_lines(self.paths),
                           GitIgnoreSpec.from_lines(self.exclude) if self.exclude else None)
        spec, exclude = self._specs
        return spec.match_file(path) and not (exclude is not None and exclude.match_file(path))


def find_block(text: str) -> str | None:
    """The body of the text's one ``qms-scope`` block (None: none). Fences inside other
    code blocks and inside HTML comments (a template's guidance) do not count; two blocks
    are refused."""
    found: list[str] = []
    fence: tuple[str, int, bool] | None = None  # (char, length, is ours)
    body: list[str] = []
    comment = False
    for line in text.splitlines():
        if fence is None:
            if comment:
                comment = "-->" not in line
                continue
            stripped = line.lstrip(" ")
            if stripped.startswith("<!--") and len(line) - len(stripped) <= 3:
                comment = "-->" not in stripped[4:]
                continue
            m = _FENCE.match(line)
            if m:
                info = m.group(3).strip()
                if m.group(2)[0] == "`" and "`" in info:
                    continue  # not a fence (CommonMark)
                fence = (m.group(2)[0], len(m.group(2)), info.split()[:1] == [FENCE_INFO])
                body = []
            continue
        m = _FENCE.match(line)
        if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= fence[1] \
                and not m.group(3).strip():
            if fence[2]:
                found.append("\n".join(body))
            fence = None
            continue
        body.append(line)
    if fence is not None and fence[2]:
        raise ValidationError(f"The {FENCE_INFO} block is not closed (a line of "
                              f"{fence[0] * fence[1]} must end it).")
    if len(found) > 1:
        raise ValidationError(f"The text holds {len(found)} {FENCE_INFO} blocks; a document "
                              "has at most one.")
    return found[0] if found else None


def parse(body: str) -> Scope:
    """A block's body as a :class:`Scope`; anything malformed is a ValidationError that says
    what to write."""
    import yaml  # deferred: only commands that judge a scope parse one

    try:
        data = yaml.safe_load(body) if body.strip() else None
    except yaml.YAMLError as exc:
        raise ValidationError(f"The {FENCE_INFO} block is not valid YAML: "
                              f"{str(exc).splitlines()[0]}.") from None
    if not isinstance(data, dict):
        raise ValidationError(f"The {FENCE_INFO} block must be a mapping with keys "
                              f"{', '.join(KEYS)}.")
    unknown = sorted(str(k) for k in data if k not in KEYS)
    if unknown:
        raise ValidationError(f"The {FENCE_INFO} block has unknown key(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(KEYS)}.")
    system = data.get("system")
    if not isinstance(system, str) or not SYSTEM_RE.match(system):
        raise ValidationError(f"The {FENCE_INFO} block needs 'system: NAME' (a system of "
                              "qms system list).")
    paths = _patterns(data, "paths", required=True)
    requirements = data.get("requirements")
    if requirements not in REQUIREMENTS:
        raise ValidationError(f"The {FENCE_INFO} block needs 'requirements: revise' or "
                              "'requirements: unchanged'.")
    exploratory = data.get("exploratory", False)
    if not isinstance(exploratory, bool):
        raise ValidationError(f"'exploratory' in the {FENCE_INFO} block is true or false.")
    return Scope(system, paths, _patterns(data, "exclude"), _patterns(data, "expect"),
                 requirements, exploratory)


def _patterns(data: dict, key: str, required: bool = False) -> list[str]:
    value = data.get(key)
    if value is None and not required:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or \
            not all(isinstance(p, str) and p.strip() for p in value):
        raise ValidationError(f"'{key}' in the {FENCE_INFO} block must be a list of path "
                              "patterns, e.g. [src/app/auth/**].")
    for pattern in value:
        if pattern.startswith("!") or "\x00" in pattern or "\n" in pattern:
            raise ValidationError(f"Pattern {pattern!r} in '{key}': negations ('!') and "
                                  "control characters are not allowed; use 'exclude'.")
    return [p.strip() for p in value]


def parse_text(text: str) -> Scope | None:
    """The scope a document's text declares (None: it has no block)."""
    body = find_block(text)
    return None if body is None else parse(body)


# -- systems ------------------------------------------------------------------------------
def normalize_prefix(prefix: str) -> str:
    """A system's path prefix, repository-relative without a trailing '/'; refused when it is
    empty, absolute, climbs out (``..``), holds glob characters or is qms's own data."""
    p = (prefix or "").strip().strip("/")
    parts = p.split("/")
    if not p or "\x00" in p or "\n" in p or _GLOB.search(p) or \
            any(part in ("", ".", "..") for part in parts):
        raise ValidationError(f"Invalid path prefix {prefix!r}: a repository-relative folder or "
                              "file such as src/app (no '..', no wildcards).")
    if protected(p):
        raise ValidationError(f"{prefix!r} is qms's own data ({', '.join(PROTECTED)}), never "
                              "part of a system.")
    return p


def under(prefixes: Iterable[str], path: str) -> bool:
    """Whether ``path`` is one of the prefixes or lies below one."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def overlap(a: Iterable[str], b: Iterable[str]) -> str | None:
    """A prefix of ``a`` that contains or lies in one of ``b`` (None: disjoint)."""
    b = list(b)
    for p in a:
        if under(b, p) or any(under([p], q) for q in b):
            return p
    return None


def protected(path: str, project_prefix: str = "") -> bool:
    """Whether ``path`` is qms's own data: at the repository's top (any case) or at the
    project's folder ``project_prefix`` when the project is a subfolder of the repository."""
    for base in {"", project_prefix.strip("/")}:
        rest = path
        if base:
            if not path.startswith(base + "/"):
                continue
            rest = path[len(base) + 1:]
        if rest.split("/", 1)[0].casefold() in PROTECTED:
            return True
    return False


def check_within(scope: Scope, prefixes: list[str]) -> None:
    """Refuse a pattern of ``paths``/``expect`` that is not anchored inside the system."""
    for key in ("paths", "expect"):
        for pattern in getattr(scope, key):
            base = literal_base(pattern)
            if base is None or not under(prefixes, base):
                raise ValidationError(
                    f"Pattern {pattern!r} in '{key}' is outside system {scope.system} "
                    f"({', '.join(prefixes)}): start it with one of those folders, e.g. "
                    f"{prefixes[0]}/**.", pattern=pattern, system=scope.system)


def literal_base(pattern: str) -> str | None:
    """The literal leading folders of an anchored pattern (None: it may match at any depth,
    as a gitignore pattern without a '/' does)."""
    p = pattern.lstrip("/") if pattern.startswith("/") else pattern
    if "/" not in p.rstrip("/") and not pattern.startswith("/"):
        return None
    parts = []
    for part in p.rstrip("/").split("/"):
        if _GLOB.search(part) or part in ("", ".", ".."):
            break
        parts.append(part)
    return "/".join(parts) or None


class InForce:
    """What may change on a CR's branch: the scope blocks in force (the CR's own and its
    widening VARs'), the system's prefixes, and the project's folder in the repository."""

    def __init__(self, scopes: list[Scope], prefixes: list[str], project_prefix: str = "") -> None:
        self.scopes, self.prefixes, self.project_prefix = scopes, prefixes, project_prefix

    def allows(self, path: str) -> bool:
        """THE decision: ``path`` (repository-relative, as git stores it) may change under
        this scope: not qms's own data, inside the system, and included by a block."""
        return not protected(path, self.project_prefix) and under(self.prefixes, path) \
            and any(s.includes(path) for s in self.scopes)

    def expected(self) -> list[str]:
        return [p for s in self.scopes for p in s.expect]
