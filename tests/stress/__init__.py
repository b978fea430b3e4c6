"""Long-running reliability scripts (not collected by pytest: no test_ files)."""
