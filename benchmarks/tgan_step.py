"""TGAN training-step time and sampling throughput, paper and cpu-profile sizes.

Run ``python benchmarks/tgan_step.py [--device cuda] [--bf16] [--threads N]
[--profiles ...]``: a profile's model and batch come from its record, ``paper`` is
the config class's defaults at batch 8. Times ``TGAN.train_step`` (one D update and
one G update) on random clips after a warm-up step, and ``generate`` for a batch of
clips; prints one JSON line per configuration and writes them, with the machine and
its load average, to ``book/results/tgan_step_<device>[_bf16].json`` (``--out`` to
change).
"""

from __future__ import annotations

from mocogan_step import benchmark  # benchmarks/ is sys.path[0] as a script

PAPER_BATCH = 8  # not the paper's batch: a paper-size step takes minutes on a CPU


if __name__ == "__main__":
    benchmark("tgan", PAPER_BATCH, __doc__, ["paper", "cpu"])
