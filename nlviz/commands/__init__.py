"""Headless CLI commands (record, info, export); none of them imports Qt."""
