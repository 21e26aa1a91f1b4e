"""Genesis and adoption (docs/code-control.md, *Genesis and adoption*).

Code already on ``main`` when a system is added is its baseline. A new system can instead
grow on ``genesis/<SYSTEM>``, free of CRs: ``qms system add NAME --path P --genesis USER``
opens the branch at ``main`` and names who may push to it (fast-forward only, inside the
system's paths, never qms's own data; each push a signed ``GENESIS_PUSH`` project event).
It enters ``main`` only through an adoption CR (``adopt: true`` in its scope): ``release``
opens ``cr/CR-NNN`` at the genesis branch's recorded tip, and the ordinary gate and merge
land it, as the system's first release ``{SYSTEM}-1.0``. From then on the genesis branch
takes no push.
"""

from __future__ import annotations

from qms.domain import scope as scopes
from qms.operations.code import release
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

PREFIX = "refs/heads/genesis/"


def ref_of(system: str) -> str:
    return PREFIX + system


def pushes(project: Project, system: str) -> list[dict[str, Any]]:
    """The system's ``GENESIS_PUSH`` events the chain vouches for, oldest first."""
    from qms.store import vouched

    return [e for line, e in vouched.events(project, "GENESIS_PUSH")
            if e.get("system") == system and vouched.signed(project, line, e)]


def tip(project: Project, system: dict[str, Any]) -> str:
    """Where the chain says ``genesis/<SYSTEM>`` is: its last push's ``new``, else the
    commit the system was added at."""
    done = pushes(project, system["name"])
    return str(done[-1]["new"]) if done else str(system["base"])


def adopted(project: Project, system: str) -> dict[str, Any] | None:
    """The merge that adopted the system (its first ``CODE_MERGE``), or None."""
    return release.first(project, system)


def whole(system: dict[str, Any], project_prefix: str) -> scopes.InForce:
    """What a genesis push may change: the system's paths, never qms's own data."""
    block = scopes.Scope(system["name"], ["*"], [], [], "revise", False)
    return scopes.InForce([block], system["paths"], project_prefix)


def check_adoption(project: Project, block: scopes.Scope, systems: dict[str, Any]) -> str:
    """Refuse an ``adopt: true`` block whose system has no genesis branch or was adopted;
    returns the system's recorded genesis tip."""
    from qms.errors import ValidationError

    system = systems.get(block.system) or {}
    if not system.get("genesis"):
        raise ValidationError(f"System {block.system} was not added for genesis (--genesis "
                              "USER): there is nothing to adopt; drop 'adopt: true'.")
    done = adopted(project, block.system)
    if done is not None:
        raise ValidationError(f"System {block.system} was adopted by {done.get('doc_id')} "
                              f"({done.get('release')}): drop 'adopt: true'.")
    return tip(project, system)
