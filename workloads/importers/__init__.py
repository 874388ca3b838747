"""Importers of other trace formats: Chakra execution traces and PyTorch profiler traces."""
