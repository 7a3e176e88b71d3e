"""Shared basics every layer may use: the error type and its shapes, log context, metric
definitions, rate limits, settings parsers. Imports nothing of the project."""
