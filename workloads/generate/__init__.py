"""Training-trace generation: pipeline schedules and the trace generator."""
from workloads.generate.schedules import (SCHEDULES, Action, in_flight_microbatches,
                                          schedule)

__all__ = ["Action", "SCHEDULES", "schedule", "in_flight_microbatches"]
