"""The foundation every floor stands on: errors, file I/O and the typed parameters.

Imported by features/, models/, sla/, serve/ and pipeline/; imports none of them.
"""

from pathlib import Path

# Here rather than in foundation.params so the command line can name it without importing pydantic.
DEFAULT_PARAMS = Path("params.yaml")
