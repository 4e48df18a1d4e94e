"""The web front door: IRC over WebSocket (IRCv3 websocket) and the built-in web client.

A front-end beside ircd: it speaks HTTP and WebSocket and hands each WebSocket
message to an ircd session as one IRC line, so a browser is a client like any other.
"""
