"""The node runtime: one event loop per node; calls out and in, workers, schedules, joining the mesh."""
