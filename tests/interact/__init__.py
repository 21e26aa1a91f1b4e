"""Tests of interactive authoring (qms interact)."""
