"""What machine a benchmark ran on, for its JSON line."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime

# The highest vector-instruction level, since it changes the encoder's int8 arithmetic: two
# machines both named "AMD EPYC" (the second with AVX2 only) embed slightly differently, and a
# question near the answer threshold can fall on either side (Meridian dev accuracy 0.459 on
# the first, 0.432 on the second, same commit). Figures compare only at the same level.
_ISA = ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    isa = None
    try:
        with open("/proc/cpuinfo") as fh:
            first = fh.read().split("\n\n")[0]  # the first processor's block
        info = {
            k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in first.splitlines())
        }
        cpu = info.get("model name", cpu)
        flags = set(info.get("flags", "").split())
        isa = next((f for f in _ISA if f in flags), None)
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "isa": isa or None,
        "cores": os.cpu_count(),
        "mem_gib": mem_gib,
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
    }
