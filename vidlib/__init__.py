"""vidlib: unconditional video generation with disentangled appearance and motion.

One thin library behind a notebook-first research book. It reimplements G3AN, AVLAE,
NAVS and the residual-vector models (RJGAN, RMoCoGAN, RJVAE) together with the
baselines they compare against (MoCoGAN, VGAN, TGAN, DSA):

- ``vidlib.data``: the embedded procedural Shapes dataset, video I/O, real datasets;
- ``vidlib.models``: one module per paper (networks, losses, update rule ``Method``);
- ``vidlib.train``: the one training loop, ``fit``;
- ``vidlib.record`` and ``vidlib.experiment``: the experiment record (data, model,
  train, eval) and ``run_experiment``, which trains and evaluates one;
- ``vidlib.results``: ``results.json`` and what a chapter needs to write and read runs;
- ``vidlib.runner``: ``python -m vidlib.runner``, which executes ``notebooks/<slug>.md``
  per profile with papermill (in the order of the chapters' ``needs``, grids as
  ``run_experiment`` calls) and builds the Jupyter Book.

Video tensors are ``(B, C, T, H, W)`` floats in ``[-1, 1]`` everywhere.
"""

__version__ = "0.1.0"
