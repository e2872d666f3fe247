"""Errors a user can act on: each says what is wrong, where, and what to do."""


class LeadscoreError(Exception):
    """Base for errors the CLI prints as one clear line and exits non-zero on."""


class ConfigError(LeadscoreError):
    """A params.yaml, sla.yaml, personas.yaml or mapping file is invalid."""


class DataError(LeadscoreError):
    """An input file is unreadable or breaks the data contract (missing column, ...)."""


class InsufficientDataError(LeadscoreError):
    """Too little data to train a model worth using."""
