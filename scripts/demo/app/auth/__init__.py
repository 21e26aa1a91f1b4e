"""Sign-in for the demo web service."""
