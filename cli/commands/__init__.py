"""One module per ``conddb`` noun; each imports only click at module level (see cli/main.py)."""
