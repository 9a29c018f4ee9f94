"""Pretraining-data pipeline: CLI, config, I/O, graph assembly and the report."""
import logging


def _hide_optional_gcp_warning(record: logging.LogRecord) -> bool:
    """Beam logs "apitools not found" at import when the optional GCP extra is absent; it is
    noise for local runs (Dataflow users install `.[gcp]`, which brings apitools)."""
    return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_hide_optional_gcp_warning)
