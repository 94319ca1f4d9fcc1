"""Real client libraries of 2013, each in a pinned virtualenv, driven from the end-to-end tests."""
