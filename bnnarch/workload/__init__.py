"""Workloads: typed layers (``layer``), the graph (``graph``), versioned JSON
and precision maps (``io``), builders of published networks (``builder``),
SCALE-Sim topologies (``scalesim``) and the numpy statistics reuse schemes
need (``stats``, ``bits``). No torch: models come in through bnnarch.nn."""
