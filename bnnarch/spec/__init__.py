"""Design specs: YAML -> typed, frozen model, with every error reported at once."""

from bnnarch.spec.array import ArraySpec
from bnnarch.spec.load import DesignSpec, dump_design, load_design, parse_design, register_template

__all__ = [
           "ArraySpec",
           "DesignSpec",
           "dump_design",
           "load_design",
           "parse_design",
           "register_template",
]
