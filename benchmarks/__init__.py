"""Load generator and comparison harness for ircpsyc and other IRC servers.

Run it with ``python -m benchmarks.run``; see benchmarks/README.md.
"""
