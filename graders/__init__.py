"""labgrader: grade live cloud-infrastructure labs by observing them, then judging."""

__version__ = "0.1.0"
