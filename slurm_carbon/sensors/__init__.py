"""Measuring hardware: GPUs (NVML or a simulator), CPU and DRAM (RAPL or an estimate).

- :mod:`~slurm_carbon.sensors.base`: the protocols (``GpuBackend``/``Gpu``, ``CpuEnergyBackend``).
- :mod:`~slurm_carbon.sensors.counters`: ``counter_delta`` (wraparound, reset).
- :mod:`~slurm_carbon.sensors.nvml`: NVIDIA GPUs; :mod:`~slurm_carbon.sensors.rapl`: RAPL powercap.
- :mod:`~slurm_carbon.sensors.sim`, :mod:`~slurm_carbon.sensors.profiles`,
  :mod:`~slurm_carbon.sensors.workload`: simulated GPUs shared across processes.
- :mod:`~slurm_carbon.sensors.estimate`: CPU/DRAM energy estimated where no RAPL exists.
- :mod:`~slurm_carbon.sensors.fake`: scriptable in-memory backends for tests.
- :mod:`~slurm_carbon.sensors.factory`: the backends a node has, picked from the agent's settings.

Nothing is imported here, so importing a backend loads only what it needs.
"""
