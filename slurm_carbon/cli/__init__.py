"""The ``slurm-carbon`` command line."""
