"""Passive views: each exposes setters and emits intent signals."""
