"""Releases: a registered version imported into the BentoML store, and packaged into a Bento."""

from serving.release.bento import build, import_model

__all__ = ["build", "import_model"]
