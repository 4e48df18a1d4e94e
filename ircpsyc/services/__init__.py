"""Services: accounts and SASL, channel registration, away log, history (to come)."""
