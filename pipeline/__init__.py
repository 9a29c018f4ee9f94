"""Pretraining-data pipeline: CLI, config, I/O, graph assembly and the report."""
