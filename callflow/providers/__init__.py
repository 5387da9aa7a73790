"""Telephony providers: each turns its wire events into engine events and carries out commands."""
