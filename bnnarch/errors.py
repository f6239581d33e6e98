"""Exception hierarchy. Every error a user can see derives from BnnarchError;
the CLI turns it into a message and a non-zero exit, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class BnnarchError(Exception):
    """Base of all user-facing errors."""

    exit_code: int = 2


@dataclass(frozen=True)
class FieldError:
    """One problem in a user file: dotted path, message and (if known) YAML line."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path or '<root>'}{where}: {self.message}"


class SpecError(BnnarchError):
    """A design or study spec is invalid. Carries every field error at once."""

    def __init__(self, source: str, errors: list[FieldError]):
        self.source = source
        self.errors = list(errors)
        lines = [f"{source}: {len(self.errors)} error(s)"]
        lines += [f"  - {e}" for e in self.errors]
        super().__init__("\n".join(lines))


class InputError(BnnarchError):
    """An input file cannot be read (missing, a directory, unreadable, too large,
    not UTF-8, not valid JSON) or an output path cannot be written."""


class WorkloadError(BnnarchError):
    """A workload file or graph is invalid, or a layer has no cost model."""


class MappingError(BnnarchError):
    """No legal tiling of a layer fits the design."""


class SimError(BnnarchError):
    """The simulation could not run."""


class RtlError(BnnarchError):
    """RTL generation, verification or tool runs failed."""


class ModelError(BnnarchError):
    """Unknown model, untraceable module or unreadable checkpoint."""


class StudyError(BnnarchError):
    """A sweep/search could not run."""
