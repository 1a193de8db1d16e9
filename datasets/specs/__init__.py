"""Shipped dataset build specs (``scan2ad build <name>.toml``); package data, no code."""
