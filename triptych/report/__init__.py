"""Reports of a run: terminal tables now, HTML/markdown reports as the tour grows."""
