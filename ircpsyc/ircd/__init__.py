"""The IRC front-end: sessions, commands, and the translation IRC <-> PSYC."""
