"""Synthetic national probation population, shaped like England and Wales under TR."""

from pbrkit.synth.generate import end_date, generate, write
from pbrkit.synth.params import SynthParams

__all__ = ["SynthParams", "end_date", "generate", "write"]
