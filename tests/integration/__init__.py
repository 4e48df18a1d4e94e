"""Loopback integration tests: a real ircpsyc process, real sockets, real clients."""
