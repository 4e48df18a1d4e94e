"""Persons, below the front-ends: who is online, here and on the network.

A `Person` (`person.py`) is the PSYC entity `psyc://SERVER/~nick` with what
every front-end shows of it (nick, user, host, account, away, modes,
channels); its sessions (`Location`s: an IRC connection, ...) are provided by
a front-end and kept apart from the record, so one person can have several.
`PersonDirectory` (`directory.py`) is who is online on this server: the roster
by nick, nicks reserved by registering connections, MONITOR watchers, WHOWAS
and the `PersonObserver`s. `Roster` (`roster.py`) is the network's roster:
this server's persons cast to the others, replicas of theirs, nick collisions.

`ircpsyc.ircd` renders a person's IRC sessions (its `Client` is a `Person`),
`ircpsyc.xmpp` renders XMPP occupants; neither imports the other.
"""
