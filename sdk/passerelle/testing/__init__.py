"""Testing helpers for plugin authors: fixtures and the platform contract suite."""
