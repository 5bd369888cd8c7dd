"""Helpers shared by the stages; dvx hashes this file into every stage that imports it."""

from pathlib import Path

from ruamel.yaml import YAML  # installed with dvx

NUMERIC = ["tenure_months", "monthly_spend", "support_calls", "age"]
CATEGORICAL = {"plan": ["basic", "plus", "pro"], "region": ["north", "south", "east", "west"]}


def params(section: str) -> dict:
    """One section of params.yaml; dvx tracks exactly the sections each stage lists."""
    return YAML(typ="safe").load(Path("params.yaml"))[section]


def feature_columns(names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("f_")]
