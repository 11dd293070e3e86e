"""Synthesis: the construct tree becomes canonical JSON documents and a dependency graph."""

from infradsl.synth.document import dumps
from infradsl.synth.synthesizer import synthesize, synthesize_stack, validate

__all__ = ["dumps", "synthesize", "synthesize_stack", "validate"]
