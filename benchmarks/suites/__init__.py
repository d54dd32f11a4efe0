"""Registered benchmark suites; every module here registers its suites on import."""
