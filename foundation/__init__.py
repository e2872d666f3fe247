"""The foundation every floor stands on: errors, file I/O and the typed parameters.

Imported by features/, models/, sla/, serve/ and pipeline/; imports none of them.
"""
