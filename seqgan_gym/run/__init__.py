"""Running things from the command line: the ``seqgan-gym`` command, the run directory's life
(create, overwrite, resume), the wall-time estimate, sweeps on Ray Tune and ``compare``.
"""
