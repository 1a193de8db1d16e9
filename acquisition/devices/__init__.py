"""Capture devices: interfaces and the rig loop (``base``), real backends (``real``), and the
built-in virtual rig (``virtual``)."""
