"""FINN-style streaming dataflow template: folding pass, SimPy layer
pipeline joined by FIFOs, energy ledger and area per stage."""

from bnnarch.dataflow.fold import FoldResult, fold
from bnnarch.dataflow.simulate import DataflowResult, simulate_dataflow

__all__ = ["DataflowResult", "FoldResult", "fold", "simulate_dataflow"]
