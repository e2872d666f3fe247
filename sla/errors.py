"""SLA errors: a figure the agreement needs is zero, missing or cannot be measured."""

from foundation.errors import LeadscoreError


class SLAError(LeadscoreError):
    """The agreement cannot be turned into numbers (a zero rate, no history, no deals...).

    The message names the figure and says how to fix it (give it in sla.yaml or get more history),
    so the CLI can print it as is instead of a ZeroDivisionError traceback.
    """
