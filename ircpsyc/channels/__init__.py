"""Places: the channel authority.  A place decides membership, modes, topic and bans."""
