"""Chatroom: one prompt, several language models, replies side by side."""

__version__ = "0.1.0"
__all__ = ["__version__"]
