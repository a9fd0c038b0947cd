"""Batch prediction: score a table of texts in streamed, resumable chunks."""
