"""qms: git-native GMP-style document control. The library surface is ``qms.operations``."""

__version__ = "0.1.0"
