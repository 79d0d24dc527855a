"""Reading a config repo from disk into typed specs that remember their source."""
