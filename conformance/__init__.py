"""Conformance testing of ircpsyc with irctest (see README.md)."""
