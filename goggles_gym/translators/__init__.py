"""Translators (real -> sim): CycleGAN, VR-Goggles (CycleGAN + semantic + shift losses) and RCAN's
canonicalizer (randomized -> sim, trained on the simulator's free pairs; it starts the others with
``--init-from``). One training loop; each method is a set of loss families (``training.METHOD_LOSSES``).

``load(path)`` turns a translator file into a callable from uint8 real frames to uint8 sim frames.
"""

from goggles_gym.translators.config import METHODS, TranslatorTrainConfig
from goggles_gym.translators.io import Translator, TranslatorFileError, load, save_translator

__all__ = ["METHODS", "Translator", "TranslatorFileError", "TranslatorTrainConfig", "load", "save_translator"]
