"""The Jabber MUC gateway: XMPP users join ircpsyc channels as XEP-0045 rooms.

- `gateway`: the sans-IO core (stanzas in, PSYC packets out, and back);
- `person`: the XMPP users and remote occupants as persons of the IRC world;
- `bridge`: relay mode, a channel linked to a MUC on another XMPP server;
- `component`: the XEP-0114 link built on slixmpp (the optional dependency);
- `jid`, `nicks`, `text`, `stanza`: pure helpers.
"""
