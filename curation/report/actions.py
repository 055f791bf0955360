"""Corrective actions: who does what, by when, about each check that failed.

The steward keeps them in a YAML file beside cohort.yaml (``report.corrective_actions``, default
``corrective_actions.yaml``), one entry per check id::

    clinical.completeness.sex:
      owner: site B data manager
      action: re-export sex from the EMR for the 3 patients named in the clinical report
      due: 2027-01-15
      status: open            # open | in_progress | done | wont_fix

Each run reads the file and the collection report lists one row per failing check with its action,
or "no action recorded"; an action whose check passes now, or whose due date has gone by while it is
open, is said so. The run writes ``reports/corrective_actions.template.yaml``, the file with an empty
entry for every failing check without one, to copy beside cohort.yaml.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "COLUMNS",
    "DEFAULT_FILE",
    "TEMPLATE_PATH",
    "Action",
    "actions_path",
    "actions_table",
    "read_actions",
    "template_yaml",
]

DEFAULT_FILE = "corrective_actions.yaml"
TEMPLATE_PATH = "reports/corrective_actions.template.yaml"
NONE = "no action recorded"
COLUMNS = ["check_id", "verdict", "owner", "action", "due", "status", "follow_up"]
FAILING = ("fail", "error")


class Action(BaseModel):
    """One corrective action, about one check."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field("", description="who acts (a role, not a patient)")
    action: str = Field("", description="what is done")
    due: date | None = Field(None, description="by when, YYYY-MM-DD")
    status: Literal["open", "in_progress", "done", "wont_fix"] = "open"


def actions_path(config: Any) -> Path | None:
    """The corrective-actions file of a cohort (beside cohort.yaml), None without a cohort file."""
    name = getattr(getattr(config, "report", None), "corrective_actions", None) or DEFAULT_FILE
    base = getattr(config, "base_dir", None)
    return Path(base) / name if base is not None else None


def read_actions(path: Path | None) -> tuple[dict[str, Action], list[str]]:
    """The actions by check id, and the problems of the file (each naming the entry, the key and the fix);
    no file is no action and no problem."""
    import yaml

    if path is None or not path.is_file():
        return {}, []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return {}, [f"{path.name}: could not be read ({type(exc).__name__}); it must be YAML, one entry per check id"]
    if not isinstance(raw, dict):
        return {}, [f"{path.name}: expected a mapping of check id -> owner, action, due, status"]
    out: dict[str, Action] = {}
    problems = []
    for check_id, entry in raw.items():
        try:
            out[str(check_id)] = Action.model_validate(entry or {})
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(x) for x in err["loc"])
                problems.append(f"{path.name}: {check_id}.{where}: {err['msg']}")
    return out, problems


def actions_table(checks: pd.DataFrame, actions: dict[str, Action], *, today: date | None = None) -> pd.DataFrame:
    """One row per failing check (its action, or "no action recorded"), then actions whose check no
    longer fails, with what the run says about them (``follow_up``)."""
    today = today or date.today()
    rows = []
    failing = checks[checks["verdict"].isin(FAILING)] if "verdict" in checks else checks.iloc[0:0]
    for r in failing.sort_values("check_id").to_dict("records"):
        a = actions.get(str(r["check_id"]))
        if a is None:
            rows.append(
                {
                    "check_id": r["check_id"],
                    "verdict": r["verdict"],
                    "owner": "",
                    "action": NONE,
                    "due": "",
                    "status": "",
                    "follow_up": "",
                }
            )
            continue
        late = a.due is not None and a.due < today and a.status in ("open", "in_progress")
        follow = "overdue" if late else ("marked done, still failing" if a.status == "done" else "")
        rows.append(
            {
                "check_id": r["check_id"],
                "verdict": r["verdict"],
                "owner": a.owner,
                "action": a.action,
                "due": a.due.isoformat() if a.due else "",
                "status": a.status,
                "follow_up": follow,
            }
        )
    verdict = dict(zip(checks.get("check_id", []), checks.get("verdict", []), strict=False))
    for check_id, a in sorted(actions.items()):
        if verdict.get(check_id) in FAILING:
            continue
        now = verdict.get(check_id)
        follow = "check not in this run" if now is None else f"check {now} now"
        rows.append(
            {
                "check_id": check_id,
                "verdict": now or "",
                "owner": a.owner,
                "action": a.action,
                "due": a.due.isoformat() if a.due else "",
                "status": a.status,
                "follow_up": follow,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def template_yaml(table: pd.DataFrame) -> str:
    """The corrective-actions file with an empty entry for each failing check that has none (to copy
    beside cohort.yaml and fill in)."""
    import yaml

    todo = table[table["action"] == NONE]
    head = (
        "# Corrective actions: copy beside cohort.yaml as corrective_actions.yaml (or the file named by\n"
        "# report.corrective_actions), fill in, and run again. status: open | in_progress | done | wont_fix\n"
    )
    body = {str(c): {"owner": "", "action": "", "due": None, "status": "open"} for c in todo["check_id"]}
    return head + (yaml.safe_dump(body, allow_unicode=True, sort_keys=False) if body else "{}\n")
