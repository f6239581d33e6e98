"""Layout constants of the compiled dataflow kernel's arrays (shared by
``bnnarch.dataflow._fastkernel``, ``_rowskip`` and ``fast``)."""

from __future__ import annotations

# process kinds
K_SRC, K_CMP, K_RDR, K_WRT, K_SNK, K_OUTER = 0, 1, 2, 3, 4, 5
# stage parameters (columns of sp)
P_NAT, P_GROUP, P_IC, P_NREAD, P_JOIN = 0, 1, 2, 3, 4
P_HIN, P_WIN, P_HOUT, P_WOUT, P_K, P_STRIDE, P_PAD, P_DIL, P_UP = 5, 6, 7, 8, 9, 10, 11, 12, 13
P_RC, P_CAP, P_GIN, P_PB, P_WB, P_RIC = 14, 15, 16, 17, 18, 19
N_P = 20
# process state (columns of ps)
S_KIND, S_STAGE, S_PC, S_F, S_A, S_B, S_C, S_J, S_PEND, S_T0, S_SENT, S_NEED = range(12)
S_CONT, S_FIFO, S_NITEMS = 12, 13, 14
N_S = 15
# fifo state (columns of fq)
F_CAP, F_CNT, F_PEAK, F_PUTS, F_FIRST, F_PUTW, F_GETW = range(7)
N_F = 7
# windowed shared state (columns of ws)
W_READ, W_FREED, W_GOTW, W_FREEDW = range(4)
# stats planes
T_BUSY, T_WIN, T_WOUT, T_DONE, T_START, T_RBUSY = range(6)
# events
E_RESUME, E_PUT, E_GET, E_SINKEND, E_STOP = range(5)
URGENT, NORMAL = 0, 1
# program counters shared by the state machines
PC_INIT, PC_LOOP, PC_PUT, PC_PUTRET, PC_GETRET, PC_BUSYRET, PC_WAITRET, PC_END = range(8)
PC_READ, PC_PIX, PC_ROW, PC_COL, PC_RBUSYRET = 8, 9, 10, 11, 12
