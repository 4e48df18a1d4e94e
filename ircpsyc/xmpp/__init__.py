"""The Jabber MUC gateway: XMPP users join ircpsyc channels as XEP-0045 rooms.

- `gateway`: the sans-IO core's state and dispatch (stanzas in, PSYC packets
  out, and back), calling its sections:
  `presence` (join, leave, nick, away, the join sequence), `messages`
  (groupchat, subjects, private messages, invitations), `rooms` (disco, ping,
  version, muc#admin) and `render` (packets to XMPP users as stanzas);
- `history` (a joining session's history) and `muc` (occupant stanzas) below them;
- `state`: what the sections and bridges see of the gateway (`Host`), at the bottom;
- `person`: the XMPP users and remote occupants as persons of the IRC world;
- `bridge`: relay mode, a channel linked to a MUC on another XMPP server;
- `component`: the XEP-0114 link built on slixmpp (the optional dependency);
- `jid`, `nicks`, `text`, `stanza`: pure helpers.

Imports go down that list's dependencies only: no module of the package
imports `gateway` but `component`, and none forms a cycle.
"""
