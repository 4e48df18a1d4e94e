"""ircpsyc: an IRC server whose channels are PSYC places."""

__version__ = "0.1.0"
