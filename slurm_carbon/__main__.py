"""``python -m slurm_carbon``: the ``slurm-carbon`` command."""

from slurm_carbon.cli.main import main

main()
