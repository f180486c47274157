"""Shared foundations: device and precision policy, robust image I/O, media writers,
checkpoints, run directories, seeds, progress and distributed helpers."""
