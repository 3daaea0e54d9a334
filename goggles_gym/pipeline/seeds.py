"""The seed plan: one place that hands out every seed of a run, in disjoint blocks.

A run's seed ``s`` owns the integers ``[BASE + s * SPAN, BASE + (s + 1) * SPAN)``, split into
blocks of ``BLOCK`` seeds, one block per consumer: each policy, each frame collection, each
segmentation net, the translators (repeat ``k`` takes the block's ``k``-th seed), the *validation*
episodes (for choosing settings), the *evaluation* episodes and the held-out metric frames (for the
report only). Episode seeds are taken in order from their block, so two consumers never share an
episode, and a frame's episode seed says which block it came from.

>>> plan = SeedPlan(0)
>>> plan.block("evaluation").first == plan.evaluation_episodes(3)[0]
True
>>> plan.owner(plan.episodes("frames/sim", 2)[1])
'frames/sim'
>>> len({plan.block(n).first for n in BLOCKS}) == len(BLOCKS)
True
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 100_000  # seeds per block: the most episodes (or repeats) one consumer can take
BLOCKS = (
    "policy", "dr_policy",
    "frames/sim", "frames/real", "frames/sim_eval", "frames/judge", "frames/pairs",
    "segnet/judge", "segnet/sim_reader", "segnet/eval",
    "translators",
    "validation", "validation/metrics",
    "evaluation", "evaluation/metrics",
    "canonicalizer",
)
SPAN = 32 * BLOCK  # seeds per run; room for new blocks without moving the old ones
BASE = 100_000_000  # away from the small seeds people type (0, 1, 42) and the CLIs' own defaults
MAX_SEED = (2**32 - 1 - BASE) // SPAN - 1  # every seed stays below 2**32 (numpy's and SB3's limit)


@dataclass(frozen=True)
class SeedBlock:
    """A named range of seeds ``[first, first + size)``."""

    name: str
    first: int
    size: int = BLOCK

    def take(self, n: int) -> list[int]:
        """The first ``n`` seeds of the block (an error if it holds fewer)."""
        if not 0 <= n <= self.size:
            raise ValueError(f"seed block {self.name!r} holds {self.size} seeds, {n} were asked for; "
                             "ask for fewer episodes or frames")
        return list(range(self.first, self.first + n))

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and self.first <= seed < self.first + self.size


@dataclass(frozen=True)
class SeedPlan:
    """Every seed of the run with seed ``seed`` (0 to :data:`MAX_SEED`)."""

    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")

    def block(self, name: str) -> SeedBlock:
        """The block named ``name`` (one of :data:`BLOCKS`)."""
        if name not in BLOCKS:
            raise KeyError(f"no seed block {name!r}; blocks are {', '.join(BLOCKS)}")
        return SeedBlock(name, BASE + self.seed * SPAN + BLOCKS.index(name) * BLOCK)

    def seed_of(self, name: str) -> int:
        """The one seed of a consumer that needs one (a policy, a segmentation net)."""
        return self.block(name).first

    def episodes(self, name: str, n: int) -> list[int]:
        """``n`` episode seeds of block ``name``."""
        return self.block(name).take(n)

    def translator_seed(self, repeat: int) -> int:
        """The seed of translator repeat ``repeat`` (0, 1, ...); every method's repeat ``k`` shares
        it, so that methods are compared on the same data order and initial draw (paired repeats)."""
        return self.block("translators").take(repeat + 1)[repeat]

    def canonicalizer_seed(self, repeat: int) -> int:
        """The seed of canonicalizer repeat ``repeat`` (0 is the block's first, the one seed a run had
        before canonicalizers repeated)."""
        return self.block("canonicalizer").take(repeat + 1)[repeat]

    def validation_episodes(self, n: int) -> list[int]:
        """Episodes for choosing settings (loss weights, budgets): never reported as results."""
        return self.episodes("validation", n)

    def evaluation_episodes(self, n: int) -> list[int]:
        """Episodes for the report only: nothing is tuned on them."""
        return self.episodes("evaluation", n)

    def owner(self, seed: int) -> str | None:
        """The block a seed belongs to, or None when it is not of this plan."""
        for name in BLOCKS:
            if seed in self.block(name):
                return name
        return None

    def to_dict(self) -> dict[str, list[int]]:
        """Block name -> [first, last] seed (saved with the run)."""
        return {n: [self.block(n).first, self.block(n).first + BLOCK - 1] for n in BLOCKS}
