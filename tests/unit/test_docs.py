"""The JSON examples in docs/ match the contracts they illustrate."""

import importlib
import json
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = re.compile(r"<!-- contract: ([\w.]+) -->\n```json\n(.*?)```", re.S)


def examples():
    for path in sorted(DOCS.glob("*.md")):
        for contract, body in EXAMPLE.findall(path.read_text()):
            yield pytest.param(contract, body, id=f"{path.name}:{contract.rsplit('.', 1)[1]}")


@pytest.mark.parametrize("contract, body", list(examples()))
def test_documented_example_matches_its_contract(contract, body):
    module, name = contract.rsplit(".", 1)
    model = getattr(importlib.import_module(module), name)
    document = json.loads(body)
    parsed = model.model_validate(document, by_name=False)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == document


def test_there_are_examples_for_every_event_and_change_type():
    documented = {contract.rsplit(".", 1)[1] for contract, _ in EXAMPLE.findall(
        "".join(path.read_text() for path in DOCS.glob("*.md")))}
    assert {"IssueCreated", "IssueUpdated", "IssueDeleted", "FixUpdated", "FixStatusChanged", "PromptUpdate",
            "ConfigChange", "RetrievalUpdate", "Guardrail", "TracesIngested", "ShadowTestCompleted"} <= documented
