"""Field types shared by every template's design model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Node = Literal[65, 45, 28, 22]


class Strict(BaseModel):
    """Frozen, unknown keys rejected: the base of every design section."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Technology(Strict):
    node_nm: Node = 28
    """Selects the energy/area tables (bnnarch.tech)."""
    vdd_v: float | None = Field(
        default=None, ge=0.3, le=1.5,
        description="supply voltage (V); None = the node's nominal (bnnarch.tech.VDD). "
                    "Scales on-chip dynamic energy by (V/Vnom)^2 and leakage by "
                    "bnnarch.voltage.leakage_scale; the clock is checked against it")


class DesignHeader(Strict):
    """The fields every template's design starts with; each template's model
    subclasses it and narrows ``template`` to its own name."""

    name: str = Field(min_length=1)
    template: str
    description: str = ""
    # >= 1 kHz: a denormal clock made latency_s infinite (not JSON); no
    # accelerator is clocked below that.
    clock_mhz: float = Field(ge=0.001, le=5000)
    technology: Technology = Technology()
