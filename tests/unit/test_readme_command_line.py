"""README's "Command line" summary against `servicecore.cli.parser()`: every command and option
the parser takes is in the summary, and the summary names none it does not take."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from servicecore.cli import parser

README = Path(__file__).resolve().parents[2] / "README.md"


def commands(node: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """"worker projections" → its options; a command with a positional choice (worker) is one
    command per choice."""
    found: dict[str, set[str]] = {}
    options = {option for action in node._actions for option in action.option_strings
               if option.startswith("--") and option != "--help"}
    nested = False
    for action in node._actions:
        if isinstance(action, argparse._SubParsersAction):
            nested = True
            for name, child in action.choices.items():
                found |= commands(child, (*path, name))
        elif not action.option_strings and action.choices:
            nested = True
            for choice in action.choices:
                found[" ".join((*path, str(choice)))] = options
    if not nested:
        found[" ".join(path)] = options
    return found


def summary(known: set[str]) -> dict[str, set[str]]:
    """The commands of the summary's code block with the options each line gives them
    (`servicecore audit anchor [--note TEXT] | witness-topic [--topic TOPIC]` is two)."""
    text = README.read_text(encoding="utf-8")
    block = text.split("\n## Command line\n", 1)[1].split("```", 2)[1]
    found: dict[str, set[str]] = {}
    name = ""
    for line in block.splitlines():
        if line.startswith("servicecore "):
            for index, part in enumerate(line.removeprefix("servicecore ").split(" | ")):
                words = part.split()
                if index == 0:
                    two = " ".join(words[:2])
                    name, group = (two, words[0]) if two in known else (words[0], "")
                else:  # `analytics rebuild | query "<SQL>"`: another command of the group
                    name = f"{group} {words[0]}".strip()
                found.setdefault(name, set()).update(re.findall(r"--[a-z][a-z-]*", part))
        elif line.strip():  # a continued line of the command above
            found[name].update(re.findall(r"--[a-z][a-z-]*", line))
    return found


def test_every_command_and_option_is_in_the_summary() -> None:
    taken = commands(parser())
    listed = summary(set(taken))
    assert sorted(set(taken) - set(listed)) == [], "commands missing from README Command line"
    missing = sorted(f"{name} {option}" for name, options in taken.items()
                     for option in options - listed.get(name, set()))
    assert missing == [], "options missing from README Command line"


def test_the_summary_names_only_what_the_parser_takes() -> None:
    taken = commands(parser())
    listed = summary(set(taken))
    assert sorted(set(listed) - set(taken)) == [], "README names commands the CLI does not have"
    extra = sorted(f"{name} {option}" for name, options in listed.items()
                   for option in options - taken.get(name, set()))
    assert extra == [], "README names options the CLI does not take"
