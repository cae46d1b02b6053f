"""A small reader of deploy/Dockerfile for the deploy tests (no Docker engine needed)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = BASE_DIR / "deploy" / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    stage: str
    name: str
    args: str


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Logical instructions (continuations joined, comments dropped), each with its stage name."""
    logical: list[str] = []
    buffer = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    result = []
    stage = ""
    for text in logical:
        name, _, args = text.partition(" ")
        name = name.upper()
        if name == "FROM":
            words = args.split()
            stage = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else words[0]
        result.append(Instruction(stage=stage, name=name, args=args.strip()))
    return result


def copy_sources(instruction: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY, flags dropped."""
    words = [word for word in shlex.split(instruction.args) if not word.startswith("--")]
    return words[:-1], words[-1]


def env_assignments(args: str) -> dict[str, str]:
    """The NAME=value pairs of an ENV instruction."""
    return dict(word.split("=", 1) for word in shlex.split(args))
