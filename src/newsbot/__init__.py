"""newsbot: answers questions about news articles with quoted excerpts and their sources."""

__version__ = "0.1.0"
