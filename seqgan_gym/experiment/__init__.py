"""One run, below the loop of :mod:`seqgan_gym.algorithm1`: its set-up from a config (models, data,
env, reward), its records in the run directory (``metrics.csv``, the lock, ``resume.pt``), and
reloading a finished run.
"""
