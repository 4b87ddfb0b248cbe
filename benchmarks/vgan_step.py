"""VGAN training-step time and sampling throughput, paper and cpu-profile sizes.

Run ``python benchmarks/vgan_step.py [--device cuda] [--bf16] [--threads N]
[--profiles ...]``: a profile's model and batch come from its record, ``paper`` is
the config class's defaults at batch 4. Times ``VGAN.train_step`` (one D update and
one G update) on random clips after a warm-up step, and ``generate`` for a batch of
clips; prints one JSON line per configuration and writes them, with the machine and
its load average, to ``book/results/vgan_step_<device>[_bf16].json`` (``--out`` to
change).
"""

from __future__ import annotations

from mocogan_step import benchmark  # benchmarks/ is sys.path[0] as a script

PAPER_BATCH = 4  # not the paper's batch: a paper-size step takes minutes on a CPU


if __name__ == "__main__":
    benchmark("vgan", PAPER_BATCH, __doc__, ["paper", "cpu"])
