"""Experiments: figure recipes' runner, cache and parallel map, the report, plotting, demos."""
