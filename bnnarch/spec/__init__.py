"""YAML with line numbers, validation into pydantic models with every error at
once, and the field types templates share. Which model a design uses is the
template registry's business (bnnarch.template)."""

from bnnarch.spec.fields import Strict, Technology
from bnnarch.spec.load import pydantic_errors, validate_model, with_lines
from bnnarch.spec.yamlsrc import line_of, load_yaml_with_lines, parse_yaml_with_lines

__all__ = [
    "Strict",
    "Technology",
    "line_of",
    "load_yaml_with_lines",
    "parse_yaml_with_lines",
    "pydantic_errors",
    "validate_model",
    "with_lines",
]
