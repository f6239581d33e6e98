"""Yosys synthesis of one PE -> cells -> gate equivalents -> mm^2, cached per
array configuration so a design-space search never re-synthesises.

Why one PE: Yosys time grows fast with the array (NOTES: 16x16 x 64 bits
75 s, 32x32 7.5 min). The array datapath is R x C identical PEs; its area is
taken as ``R x C x PE``. The controller (a dozen counters, independent of the
array size) and the shared control delay line are not included; the buffers
are SRAM macros priced by ``bnnarch.array.area`` (Yosys would turn a MemBlock into
flip-flops, NOTES).

Gate equivalents: generic ``synth`` + ``abc -g`` to simple gates, each cell
weighted by its NanGate 45 nm Open Cell Library area relative to NAND2_X1
(0.798 um^2): INV 0.532 -> 0.67, AND2/OR2 1.064 -> 1.33, XOR2/XNOR2 1.596 ->
2.0, MUX2 1.862 -> 2.33, DFF_X1 4.522 -> 5.67 GE.

NAND2 area per node (um^2), the same rule as ``bnnarch.tech``: 45 nm is
the NanGate FreePDK45 NAND2_X1 cell (0.798 um^2, published library data);
65/28/22 nm scale it by (node/45)^2 (first-order area scaling stated in
``bnnarch.tech``): 65 nm 1.665, 28 nm 0.309, 22 nm 0.191 um^2.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bnnarch.array.spec import ArraySpec
from bnnarch.errors import RtlError
from bnnarch.fsio import atomic_write_text
from bnnarch.tech import tech_for

if TYPE_CHECKING:
    import pyrtl  # local: keep synthesized_area_mm2 free of PyRTL

GE_PER_CELL = {
    "$_NOT_": 0.67, "$_BUF_": 0.67, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_AND_": 1.33,
    "$_OR_": 1.33, "$_ANDNOT_": 1.33, "$_ORNOT_": 1.33, "$_XOR_": 2.0, "$_XNOR_": 2.0,
    "$_MUX_": 2.33, "$_AOI3_": 1.33, "$_OAI3_": 1.33, "$_AOI4_": 1.67, "$_OAI4_": 1.67,
}
GE_DFF = 5.67
GE_ENABLE = 2.33  # an enable flop = DFF + MUX2
GE_SYNC_RESET = 1.33
PE_MODULE = "bnnarch_pe"
YOSYS_SCRIPT = """read_verilog {src}
hierarchy -top {top}
synth -flatten -top {top}
abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX
opt_clean
stat
"""


def cell_ge(cell: str) -> float:
    """Gate equivalents of one Yosys internal cell type."""
    if cell in GE_PER_CELL:
        return GE_PER_CELL[cell]
    if "DFF" in cell or "DLATCH" in cell:
        ge = GE_DFF
        if "DFFE" in cell:
            ge += GE_ENABLE
        if "SDFF" in cell:
            ge += GE_SYNC_RESET
        return ge
    raise RtlError(f"no gate-equivalent weight for Yosys cell {cell}")


def cache_key(spec: ArraySpec) -> str:
    a = spec.array
    # "mask": the PE with the valid-tap mask (zero padding); "sub": the output
    # stage's acc - bias mode (+-1 activations x multi-bit weights); older
    # entries are not reused
    return (f"simd{a.simd_bits}-acc{a.acc_bits}-{a.interconnect}-{a.effective_dataflow}-"
            f"{a.popcount_tree}-{spec.technology.node_nm}nm-mask-sub")


def default_cache_path() -> Path:
    env = os.environ.get("BNNARCH_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "bnnarch"
    return base / "rtl_area.json"


def pe_block(spec: ArraySpec) -> pyrtl.Block:
    """One PE as its own block: operands, control and output-stage inputs as
    ports; broadcast PEs carry the pipelined popcount tree, systolic os PEs
    register and forward both operands and the activation's valid-tap mask,
    systolic ws / is PEs hold the stationary word (is: with its mask; ws:
    forward the streamed mask) and pass a partial sum down (their per-column
    accumulators, C of them, are left out of the per-PE figure). Every PE
    gates its XNOR with the mask (padded taps contribute 0)."""
    import pyrtl  # local: keep synthesized_area_mm2 free of PyRTL

    from bnnarch.rtl.pe import SHIFT_BITS, PassCtrl, output_stage, pe_core, product_bits
    from bnnarch.rtl.popcount import TREES, identity_stage

    a = spec.array
    S, AB = a.simd_bits, a.acc_bits
    block = pyrtl.Block()
    with pyrtl.set_working_block(block, no_sanity_check=True):
        w, x = pyrtl.Input(S, "w_in"), pyrtl.Input(S, "a_in")
        xnor, mask = pyrtl.Input(1, "xnor"), pyrtl.Input(S, "mask_in")
        ctrl = PassCtrl(pyrtl.Input(1, "valid"), pyrtl.Input(1, "first"),
                        pyrtl.Input(SHIFT_BITS, "shift"), pyrtl.Input(1, "neg"))
        bias, thr = pyrtl.Input(AB, "bias"), pyrtl.Input(AB, "threshold")

        def reg_stage(v: pyrtl.WireVector) -> pyrtl.WireVector:
            r = pyrtl.Register(v.bitwidth)
            r.next <<= v
            return r

        if a.interconnect == "systolic" and a.effective_dataflow in ("ws", "is"):
            # stationary PE: loadable operand register, popcount, psum adder + register
            # (the per-column shift-add accumulator and output stage are not per PE)
            load = pyrtl.Input(1, "load")
            psum_bits = (a.rows * S).bit_length()
            psum_in = pyrtl.Input(psum_bits, "psum_in")
            held = pyrtl.Register(S, "held")
            held.next <<= pyrtl.select(load, w, held)
            if a.effective_dataflow == "is":  # the stationary activation's mask
                m = pyrtl.Register(S, "held_mask")
                m.next <<= pyrtl.select(load, mask, m)
                m_out: pyrtl.WireVector = m
            else:  # ws: the mask streams right with the activation
                m, m_out = mask, reg_stage(mask)
            pop = TREES[a.popcount_tree](product_bits(held, x, xnor, m), identity_stage)
            outs = {"psum_out": reg_stage((psum_in + pop)[:psum_bits]), "w_out": held,
                    "a_out": reg_stage(x), "mask_out": m_out}
            for name, wire in outs.items():
                o = pyrtl.Output(wire.bitwidth, name)
                o <<= wire
            block.sanity_check()
            return block
        stage = reg_stage if a.interconnect == "broadcast" else identity_stage
        acc_next, _ = pe_core(w, x, xnor, mask, ctrl, TREES[a.popcount_tree], stage, AB, "acc")
        sub = pyrtl.Input(1, "sub")  # +-1 activations x multi-bit weights: acc - bias
        dot, sign = output_stage(acc_next, xnor, sub, bias, thr, AB)  # bias: cfg or lane sum
        outs = {"dot": dot, "sign": sign}
        if a.interconnect == "systolic":
            outs["w_out"] = reg_stage(w)
            outs["a_out"] = reg_stage(x)
            outs["mask_out"] = reg_stage(mask)
        for name, wire in outs.items():
            o = pyrtl.Output(wire.bitwidth, name)
            o <<= wire
    block.sanity_check()
    return block


@dataclass(frozen=True)
class SynthResult:
    key: str
    cells_per_pe: int
    ge_per_pe: float
    pe_area_um2: float
    pes: int
    cells: int  # whole array datapath (cells_per_pe x pes)
    area_mm2: float  # whole array datapath
    cell_types: dict[str, int]
    yosys_seconds: float


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts from the last ``stat`` report of a Yosys log."""
    part = text[text.rfind("Number of cells:"):]
    cells: dict[str, int] = {}
    for m in re.finditer(r"^\s+(\$\S+)\s+(\d+)\s*$", part, re.MULTILINE):
        cells[m.group(1)] = int(m.group(2))
    if not cells:
        raise RtlError("could not read cell counts from the Yosys report")
    return cells


def synthesize_pe(spec: ArraySpec, workdir: Path | None = None,
                  timeout_s: float = 900) -> tuple[SynthResult, str, str]:
    """Run Yosys on one PE. Returns (result, pe Verilog, Yosys log)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise RtlError("yosys is not installed (the project's setup.sh installs it)")
    import pyrtl  # local: keep synthesized_area_mm2 free of PyRTL

    buf = io.StringIO()
    pyrtl.output_to_verilog(buf, add_reset=False, block=pe_block(spec), module_name=PE_MODULE)
    verilog = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(workdir) if workdir else Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "pe.v").write_text(verilog)
        (wd / "synth.ys").write_text(YOSYS_SCRIPT.format(src="pe.v", top=PE_MODULE))
        t0 = time.monotonic()
        try:
            p = subprocess.run([yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=wd,
                               capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RtlError(f"yosys timed out after {timeout_s:.0f} s") from None
        secs = time.monotonic() - t0
        log = (wd / "yosys.log").read_text() if (wd / "yosys.log").exists() else p.stdout
    if p.returncode:
        raise RtlError(f"yosys failed:\n{(p.stderr or log)[-2000:]}")
    cells = parse_stat(log)
    ge = sum(n * cell_ge(c) for c, n in cells.items())
    pe_um2 = ge * tech_for(spec.technology.node_nm).nand2_um2
    pes = spec.array.pes
    res = SynthResult(cache_key(spec), sum(cells.values()), round(ge, 2), pe_um2,
                      pes, sum(cells.values()) * pes, pe_um2 * pes / 1e6, cells, round(secs, 2))
    return res, verilog, log


def _read_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def store_cached(res: SynthResult, path: Path | None = None) -> Path:
    """Add one configuration to the cache (atomic replace)."""
    path = path or default_cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read_cache(path)
    entry = asdict(res)
    for k in ("pes", "cells", "area_mm2"):
        entry.pop(k)
    data[res.key] = entry
    return atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def synthesized_area_mm2(spec: ArraySpec, cache: Path | str | None = None) -> float | None:
    """Array datapath area (mm^2) from the synthesis cache, or None when this
    configuration was never synthesised. Never runs Yosys."""
    data = _read_cache(Path(cache) if cache else default_cache_path())
    entry = data.get(cache_key(spec))
    if entry is None:
        return None
    return float(entry["pe_area_um2"]) * spec.array.pes / 1e6


def area_for(spec: ArraySpec, cache: Path | str | None = None,
             workdir: Path | None = None) -> tuple[SynthResult, str | None]:
    """Cached synthesis result for the spec, synthesising (and caching) on a
    miss. Returns (result, Yosys log or None when it came from the cache)."""
    path = Path(cache) if cache else default_cache_path()
    entry = _read_cache(path).get(cache_key(spec))
    pes = spec.array.pes
    if entry is not None:
        res = SynthResult(entry["key"], entry["cells_per_pe"], entry["ge_per_pe"],
                          entry["pe_area_um2"], pes, entry["cells_per_pe"] * pes,
                          entry["pe_area_um2"] * pes / 1e6, entry["cell_types"],
                          entry["yosys_seconds"])
        return res, None
    res, _, log = synthesize_pe(spec, workdir)
    store_cached(res, path)
    return res, log
