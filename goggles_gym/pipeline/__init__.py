"""The study as declared stages (``stages``), run in a run folder (``runner``), with one seed plan
(``seeds``), the configs each stage builds (``configs``), and the run state (``state``).
``python -m goggles_gym.pipeline`` is its command line (``cli``)."""

from goggles_gym.pipeline.cli import main
from goggles_gym.pipeline.config import PRESETS, PipelineConfig, check_config, load_pipeline_preset
from goggles_gym.pipeline.runner import Pipeline
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.pipeline.stages import STAGE_NAMES, STAGES

__all__ = ["PRESETS", "STAGES", "STAGE_NAMES", "Pipeline", "PipelineConfig", "SeedPlan", "check_config",
           "load_pipeline_preset", "main"]
