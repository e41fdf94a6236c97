"""codesft: verified SFT data, fault-guided fine-tuning and sandboxed evaluation for code LLMs."""

__version__ = "0.1.0"
