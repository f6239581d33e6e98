"""WorkloadGraph: an immutable, topologically ordered set of layers with a
networkx view of the data edges (residual adds and concats included)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import networkx as nx

from bnnarch.errors import WorkloadError
from bnnarch.workload.layer import Layer, require_valid

INPUT = "input"


@dataclass(frozen=True)
class WorkloadGraph:
    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    meta: tuple[tuple[str, str], ...] = ()
    # name -> position in ``layers``: rebuilt by __post_init__ (so also by dataclasses.replace)
    _index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if layer.name in index or layer.name == INPUT:
                raise WorkloadError(f"duplicate layer name {layer.name!r}")
            require_valid(layer)
            for src in layer.inputs:
                if src != INPUT and src not in index:
                    raise WorkloadError(
                        f"layer {layer.name!r}: input {src!r} is not an earlier layer or 'input'"
                    )
            index[layer.name] = i
        object.__setattr__(self, "_index", index)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> Layer:
        try:
            return self.layers[self._index[name]]
        except KeyError:
            raise WorkloadError(f"no layer named {name!r} in workload {self.name!r}") from None

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def compute_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.is_compute]

    def to_networkx(self) -> nx.DiGraph[str]:
        g: nx.DiGraph[str] = nx.DiGraph(name=self.name)
        g.add_node(INPUT, shape=self.input_shape)
        for layer in self.layers:
            g.add_node(layer.name, layer=layer)
            for src in layer.inputs:
                g.add_edge(src, layer.name)
        return g

    def with_layers(self, layers: tuple[Layer, ...]) -> WorkloadGraph:
        return replace(self, layers=layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_bits(self) -> int:
        return sum(layer.weight_bits for layer in self.layers if layer.is_compute)
