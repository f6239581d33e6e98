"""The ``dataflow`` (FINN-style layer pipeline) template. Not yet implemented:
importing this module registers nothing until the template lands."""
