"""Every alert says what to do: a summary, a description naming what fails, and a runbook_url to a
runbook under ops/runbooks/ that says what it means, how to check, how to fix and how to verify."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "rules" / "alerts.yml"
RUNBOOKS = ROOT / "ops" / "runbooks"
SECTIONS = ("What it means", "How to check", "How to fix", "How to verify")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def runbook(url: str) -> Path:
    """The file a runbook_url names: a path relative to the repository root, inside ops/runbooks/."""
    path = (ROOT / url).resolve()
    assert path.parent == RUNBOOKS, f"{url}: not a runbook under ops/runbooks/"
    return path


def headings(markdown: str) -> list[str]:
    return [m[1].strip() for m in re.finditer(r"(?m)^##\s+(.+)$", markdown)]


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_every_alert_has_a_summary_a_description_and_a_runbook(alert: dict[str, Any]) -> None:
    annotations = alert.get("annotations", {})
    missing = [key for key in ("summary", "description", "runbook_url") if not annotations.get(key)]
    assert not missing, f"{alert['alert']} lacks {missing}"
    path = runbook(annotations["runbook_url"])
    assert path.is_file(), f"{alert['alert']}: {annotations['runbook_url']} does not exist"
    text = path.read_text()
    assert text.startswith(f"# {alert['alert']}\n"), f"{path.name} must open with '# {alert['alert']}'"
    assert [h for h in headings(text) if h in SECTIONS] == list(SECTIONS), (
        f"{path.name} needs the sections {SECTIONS}, in that order; it has {headings(text)}"
    )
    for section in SECTIONS:
        body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
        assert body.strip(), f"{path.name}: '{section}' is empty"


def test_every_runbook_belongs_to_an_alert() -> None:
    linked = {runbook(a["annotations"]["runbook_url"]) for a in alerts() if "runbook_url" in a["annotations"]}
    orphans = sorted(p.name for p in RUNBOOKS.glob("*.md") if p not in linked and p.name != "README.md")
    assert not orphans, f"runbooks no alert links to: {orphans}"


def test_the_health_alert_names_the_failing_part() -> None:
    (health,) = [a for a in alerts() if a["alert"] == "ApiHealthDegraded"]
    description = health["annotations"]["description"]
    assert "pose model" in description and "Redis" in description
    assert ".Labels.check" in description and ".Labels.instance" in description


def test_templates_never_use_a_dollar() -> None:
    # Grafana expands $NAME in provisioning files, so a `$labels` would reach it empty.
    assert "$" not in ALERTS.read_text().split("groups:", 1)[1]
