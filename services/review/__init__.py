"""Review: sampling, the reviewer API, acceptance and rejection of submitted work."""
