"""Measuring hardware: GPUs (NVML or a simulator), CPU and DRAM (RAPL or an estimate)."""
