"""AVLAE training-step time and sampling throughput at the cpu profile, and what its
motion encoder costs.

Run ``python benchmarks/avlae_step.py [--device cuda] [--bf16] [--threads N]
[--profiles ...]``. Times ``AVLAE.train_step`` (Alg. 1's Steps I-III) on random clips
after a warm-up step, and ``generate`` for a batch of clips, for the cpu profile's
record (E_M on the embedded flow estimator, trained and cached on first use) and for
the same record without E_M (``motion_encoder`` off, K1 = 0: Table 3's last row), so
the difference is what E_M costs per step: its flow estimator (frozen, but
differentiated through in Steps II and III) and E_M*. Writes
``book/results/avlae_step_<device>[_bf16].json``. The paper size is not timed here: it
needs RAFT's weights (``benchmarks/raft_flow.py`` times RAFT itself).
"""

from __future__ import annotations

from mocogan_step import benchmark  # benchmarks/ is sys.path[0] as a script

WITHOUT_E_M = {"without E_M": {"motion_encoder": False, "k1": 0.0}}


if __name__ == "__main__":
    benchmark("avlae", 0, __doc__, ["cpu"], WITHOUT_E_M)
