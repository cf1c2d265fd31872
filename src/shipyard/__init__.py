"""shipyard: turn a custom VM image into working compute pools (Batch Shipyard compatible)."""

__version__ = "0.1.0"
