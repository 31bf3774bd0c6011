"""Ingestion: fetch (safe HTTP), extract (HTML/PDF/text/Markdown -> Article), sources, chunk."""
