"""Chapter "The Orthogonal Vector Game" (book/memory/ovg.md).

For each dimension d (and k = d / k_divisor vectors to find) the four natural players of
:mod:`memopt.games.players` play the game at a grid of message sizes M on the same batch of random
matrices A: the memoryless player (M = 0), the player storing rows, the player storing
quantised answers, and the sketching player. Every game records the queries of each trial and
the judge's verdict; the quantities the chapter's claims need (success fractions, the lower
envelope of queries against bits) are methods of :class:`DimensionRuns`.

Each claim is about every trial (every random matrix A), so each is measured per trial and
checked on the median with the range over the trials (:func:`memopt.claims.median_with_range`):
it holds only when every trial does. Every claim is a sanity check (``kind="sanity"``): each
player wins or loses by construction (d/2 rows give the null space; b* is derived so that the
quantised answers pass; below k d bits the rows player holds fewer than k rows, the answer
player has no bit per coordinate, the sketch fewer than d/2 + k projections), so the checks
confirm the implementation, not the theorem, which is about every player.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.patches import Rectangle
from tqdm import tqdm

from memopt import claims, plotting
from memopt.backend import single_blas_thread
from memopt.games import codec, ovg, players, reduction
from memopt.problems.nemirovski import HardFunction

NAME = "ovg"
DESCRIPTION = "The Orthogonal Vector Game: queries against message bits for four natural players"

PLAYERS = {
    "rows": players.RowStorer(),
    "answers": players.AnswerStorer(),
    "sketch": players.SketchPlayer(),
}
LABELS = {
    "memoryless": "(i) memoryless",
    "rows": "(ii) stores rows",
    "answers": "(iii) stores quantised answers",
    "sketch": "(iv) stores a sketch A S",
}
COLOURS = {"memoryless": "C0", "rows": "C1", "answers": "C2", "sketch": "C3"}


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    dims: tuple[int, ...] = (16, 32, 64, 128)
    #: The number of vectors to find is k = d // k_divisor.
    k_divisor: int = 8
    trials: int = 32
    #: Message sizes: this many log-spaced budgets per factor of 10, plus the special ones.
    budgets_per_decade: int = 6
    seed: int = 0
    #: The small game drawn out at the start of the chapter.
    small_d: int = 8
    small_k: int = 2
    #: The reduction from the m-cut method on the hard function F to a player of the game: the
    #: dimension, the Nemirovski pieces N of F, the k vectors to find, the cut limits m (as
    #: multiples of d: those of the chapter "Memory against queries in convex optimization"),
    #: the instances of F per m and the optimizer's query budget.
    reduction_d: int = 16
    reduction_pieces: int = 6
    reduction_k: int = 2
    reduction_cut_multiples: tuple[float, ...] = (0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
    reduction_instances: int = 8
    reduction_queries: int = 160

    def __post_init__(self):
        for d in (*self.dims, self.small_d):
            ovg.check_parameters(d)
        if self.k_divisor < 2 or min(self.dims) < self.k_divisor:
            raise ValueError(f"k = d // k_divisor must lie in 1..d/2: need k_divisor >= 2 and "
                             f"every d >= k_divisor, got k_divisor={self.k_divisor}, dims={self.dims}")
        ovg.check_parameters(self.small_d, self.small_k)
        if self.trials < 2 or self.budgets_per_decade < 1:
            raise ValueError("need trials >= 2 and budgets_per_decade >= 1")
        ovg.check_parameters(self.reduction_d, self.reduction_k)
        if self.reduction_pieces <= self.reduction_k:
            raise ValueError(f"reduction_pieces must exceed reduction_k = {self.reduction_k} (piece 1 "
                             f"is revealed at x = 0), got {self.reduction_pieces}")
        if self.reduction_instances < 2 or self.reduction_queries < 1 or min(self.reduction_cut_multiples) <= 0:
            raise ValueError("need reduction_instances >= 2, reduction_queries >= 1 and positive cut multiples")

    def reduction_cuts(self) -> tuple[int, ...]:
        """The cut limits m of the reduction's optimizer."""
        d = self.reduction_d
        return tuple(sorted({max(1, round(c * d)) for c in self.reduction_cut_multiples}))

    def k(self, d: int) -> int:
        return d // self.k_divisor


SCALES = {"book": Config(), "paper": Config(dims=(16, 32, 64, 128, 256), trials=256, budgets_per_decade=12)}




def sketch_threshold(d: int, k: int) -> int:
    """The message size at which the sketch holds s = d/2 + k projections: A S then has a
    k-dimensional null space and the sketching player can win."""
    player = PLAYERS["sketch"]
    return (d // 2) * (d // 2 + k) * player.entry_bits(d)


def budget_grid(d: int, k: int, per_decade: int) -> np.ndarray:
    """0, log-spaced sizes from d/2 bits up to past every player's winning size, and the sizes
    where something happens: k d - 1 and k d, one row short of all and all rows (d^2/2),
    k d (b* - 1) and k d b* for the answer-storing player, and the sketch's threshold."""
    b_star = players.AnswerStorer.guaranteed_bits(d)
    special = [k * d - 1, k * d, d * d // 2 - d, d * d // 2, k * d * (b_star - 1), k * d * b_star,
               sketch_threshold(d, k)]
    top = 2 * max(special)
    count = int(np.ceil(per_decade * np.log10(top / (d / 2)))) + 1
    grid = np.rint(np.geomspace(d / 2, top, count)).astype(np.int64)
    return np.unique(np.concatenate([[0], grid, special]))


@dataclass
class DimensionRuns:
    """Every game played at one dimension d, on one batch of matrices A."""

    d: int
    k: int
    #: Bits per coordinate that guarantee a quantised null vector passes (codec.required_bits).
    b_star: int
    #: Largest ||A y||_inf of the unquantised null vectors the answer-storing player computes.
    residual: float
    memoryless: ovg.GameResult
    games: dict[str, list[ovg.GameResult]] = field(default_factory=dict)
    #: Quantisation sweep: bits per coordinate, and per b the worst ||A y~_i||_inf of each trial.
    sweep_bits: np.ndarray | None = None
    sweep_residuals: np.ndarray | None = None

    @property
    def kd(self) -> int:
        return self.k * self.d

    @property
    def half(self) -> int:
        return self.d // 2

    def all_games(self):
        yield self.memoryless
        for games in self.games.values():
            yield from games

    def budgets(self, player: str) -> np.ndarray:
        return np.array([g.budget for g in self.games[player]])

    # -- what the claims measure -----------------------------------------------------------------
    def memoryless_success(self) -> float:
        """(a) The fraction of trials the memoryless player wins with at most d/2 queries."""
        game = self.memoryless
        return float(np.mean(game.won & (game.queries <= self.half)))

    def answers_from_bstar(self) -> tuple[float, int]:
        """(b) The fraction of the answer-storing player's trials, over every budget
        M >= k d b*, won with no query; and how many budgets that covers."""
        games = [g for g in self.games["answers"] if g.budget >= self.kd * self.b_star]
        ok = np.concatenate([g.won & (g.queries == 0) for g in games])
        return float(ok.mean()), len(games)

    def below_kd(self) -> tuple[float, float]:
        """(c) Over every player, budget M < k d and trial: the fraction of runs that lose or
        make at least d/2 - k queries; and the fewest queries of a winning run."""
        runs = [g for g in self.all_games() if g.budget < self.kd]
        ok = np.concatenate([~g.won | (g.queries >= self.half - self.k) for g in runs])
        winners = np.concatenate([g.queries[g.won] for g in runs])
        return float(ok.mean()), float(winners.min()) if winners.size else float("inf")

    def sketch_failures(self) -> tuple[float, float]:
        """(d) The fraction of the sketching player's trials with M < k d that fail the
        orthogonality test; and the smallest ||A y_i||_inf / d^-4 it reached there."""
        games = [g for g in self.games["sketch"] if g.budget < self.kd]
        fails = np.concatenate([~g.verdict.orthogonal.all(axis=1) for g in games])
        best = min(g.verdict.residuals.min() for g in games) * self.d**4
        return float(fails.mean()), float(best)

    # -- the same per trial, for the claims: each an Estimate over the trials ---------------------
    def memoryless_queries(self) -> np.ndarray:
        """(a) Per trial, the queries with which the memoryless player won (inf if it lost)."""
        game = self.memoryless
        return np.where(game.won, game.queries, np.inf).astype(float)

    def memoryless_estimate(self) -> claims.Estimate:
        return claims.median_with_range(self.memoryless_queries(), what="trials")

    def answers_queries_from_bstar(self) -> np.ndarray:
        """(b) Per trial, the most queries the answer-storing player made at a budget
        M >= k d b* (inf if it lost at one of them): 0 means it won everywhere with no query."""
        games = [g for g in self.games["answers"] if g.budget >= self.kd * self.b_star]
        per_game = np.stack([np.where(g.won, g.queries, np.inf) for g in games])
        return per_game.max(axis=0).astype(float)

    def answers_estimate(self) -> claims.Estimate:
        return claims.median_with_range(self.answers_queries_from_bstar(), what="trials")

    def fewest_winning_queries_below_kd(self) -> np.ndarray:
        """(c) Per trial, over every player and budget M < k d, the fewest queries of a winning
        run (inf if no run won)."""
        runs = [g for g in self.all_games() if g.budget < self.kd]
        per_run = np.stack([np.where(g.won, g.queries, np.inf) for g in runs])
        return per_run.min(axis=0).astype(float)

    def below_kd_estimate(self) -> claims.Estimate:
        return claims.median_with_range(self.fewest_winning_queries_below_kd(), what="trials")

    def sketch_best_ratio_below_kd(self) -> np.ndarray:
        """(d) Per trial, over the sketching player's budgets M < k d, the smallest value of
        max_i ||A y_i||_inf / d^-4 (above 1: the trial fails the orthogonality test at every
        such budget)."""
        games = [g for g in self.games["sketch"] if g.budget < self.kd]
        worst = np.stack([g.verdict.residuals.max(axis=1) for g in games])
        return worst.min(axis=0) / ovg.orthogonality_threshold(self.d)

    def sketch_estimate(self) -> claims.Estimate:
        return claims.median_with_range(self.sketch_best_ratio_below_kd(), what="trials")

    def zero_query_budget(self, player: str) -> int | None:
        """The smallest budget of the grid at which the player wins every trial with no query."""
        for game in self.games[player]:
            if game.won.all() and not game.queries.any():
                return game.budget
        return None

    def zero_query_formula(self, player: str) -> int:
        """What the players' designs predict for :meth:`zero_query_budget`: all d/2 rows
        (d^2/2 bits), k answers at b* bits (k d b*), or d/2 + k exact projections."""
        return {"rows": self.d * self.half, "answers": self.kd * self.b_star,
                "sketch": sketch_threshold(self.d, self.k)}[player]

    def empirical_bits(self) -> int | None:
        """The fewest bits per coordinate at which every quantised answer of every trial
        passed the orthogonality test in the sweep (no query, no check)."""
        passed = (self.sweep_residuals <= ovg.orthogonality_threshold(self.d)).all(axis=1)
        return int(self.sweep_bits[passed][0]) if passed.any() else None

    # -- curves ----------------------------------------------------------------------------------
    def queries_needed(self, player: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(budgets, mean queries, largest queries) where the player won every trial (NaN
        where it lost at least one)."""
        games = self.games[player]
        won = np.array([g.won.all() for g in games])
        mean = np.array([g.queries.mean() for g in games], dtype=float)
        most = np.array([g.queries.max() for g in games], dtype=float)
        return self.budgets(player), np.where(won, mean, np.nan), np.where(won, most, np.nan)

    def losses(self, player: str) -> np.ndarray:
        """The budgets at which the player lost at least one trial."""
        return np.array([g.budget for g in self.games[player] if not g.won.all()], dtype=float)

    def envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """The lower envelope: at each budget, the fewest queries with which some player wins
        every trial (its largest count over the trials). The memoryless player's d/2 counts
        at every budget, since a player may leave its message empty."""
        budgets = np.unique(np.concatenate([self.budgets(p) for p in self.games]))
        best = np.full(budgets.shape, float(self.memoryless.queries.max()))
        for player in self.games:
            b, _, most = self.queries_needed(player)
            values = np.where(np.isnan(most), np.inf, most)
            # a budget also allows every strategy of a smaller budget
            for i, budget in enumerate(budgets):
                usable = values[b <= budget]
                if usable.size:
                    best[i] = min(best[i], usable.min())
        return budgets, best


@dataclass
class SmallGame:
    """The small game drawn out at the start of the chapter (one trial, memoryless player)."""

    A: np.ndarray  # (d/2, d)
    result: ovg.GameResult

    @property
    def outputs(self) -> np.ndarray:
        """The player's k output vectors (k, d)."""
        return self.result.outputs[0]

    @property
    def queries(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(x_t, g_t) for each query."""
        return [(x[0], g[0]) for _, x, g in self.result.history]

    def returned_rows(self) -> list[tuple[int, int]]:
        """(j, sign) for each answer g_t = sign a_j."""
        rows = []
        for _, g in self.queries:
            j = int(np.flatnonzero(np.all(self.A == g, axis=1) | np.all(self.A == -g, axis=1))[0])
            rows.append((j, int(np.sign(g @ self.A[j]))))
        return rows


@dataclass
class ReductionRuns:
    """The reduction at every cut limit m: per m, per instance of F, the transcripts of every
    block of the optimizer's run that reveals k new Nemirovski pieces (:mod:`memopt.games.reduction`)."""

    d: int
    k: int
    queries: int
    transcripts: dict[int, list[list[reduction.Transcript]]]
    #: Per m and instance: queries of the whole run on which the barrier was F's maximum.
    run_rows: dict[int, np.ndarray]

    @property
    def cuts(self) -> list[int]:
        return sorted(self.transcripts)

    def all_transcripts(self) -> list[reduction.Transcript]:
        return [t for per_m in self.transcripts.values() for ts in per_m for t in ts]

    def rule_fraction(self) -> float:
        """The fraction of transcripts within the game's rules: a message of at most M bits from
        which the restarted optimizer makes exactly the first run's queries."""
        ts = self.all_transcripts()
        return float(np.mean([t.message.size <= t.budget and t.replayed for t in ts])) if ts else 0.0

    def later_blocks(self) -> list[reduction.Transcript]:
        """Transcripts of blocks that start after the first query (the first query is x = 0,
        a zero vector: a block that starts there cannot win)."""
        return [t for t in self.all_transcripts() if t.block[0] > 0]

    def later_win_fraction(self) -> float:
        ts = self.later_blocks()
        return float(np.mean([t.won for t in ts])) if ts else 0.0

    def rows_needed(self, m: int) -> np.ndarray:
        """Per instance: the fewest rows of A queried in a winning block (inf: no block won)."""
        return np.array([min((t.rows_revealed for t in ts if t.won), default=np.inf)
                         for ts in self.transcripts[m]], dtype=float)

    def first_block_rows(self, m: int) -> np.ndarray:
        """Per instance: rows queried in the winning block that starts at the second query, whose
        message is the state after one cut and holds almost nothing about A (inf: none)."""
        return np.array([min((t.rows_revealed for t in ts if t.won and t.block[0] == 1), default=np.inf)
                         for ts in self.transcripts[m]], dtype=float)

    def small_memory(self) -> list[int]:
        """Cut limits m <= d: too few to keep the d cuts +-a_j of the barrier's slab and a
        Nemirovski cut at once."""
        return [m for m in self.cuts if m <= self.d]

    def large_memory(self) -> list[int]:
        return [m for m in self.cuts if m >= 1.25 * self.d]

    def small_memory_fraction(self) -> float:
        """The fraction of instances in which, at every m <= d, no winning block queried fewer
        than d/2 rows of A (no winning block at all counts as needing more than the run)."""
        rows = np.min([self.rows_needed(m) for m in self.small_memory()], axis=0)
        return float(np.mean(rows >= self.d / 2))

    def large_memory_fraction(self) -> float:
        """The fraction of instances in which, at every m >= 1.25 d, some winning block queried
        fewer than d/2 rows of A."""
        rows = np.max([self.rows_needed(m) for m in self.large_memory()], axis=0)
        return float(np.mean(rows < self.d / 2))


def hard_instance(config: Config, index: int) -> HardFunction:
    """The ``index``-th instance of F for the reduction (the paper's eta = d^5, rho = 1)."""
    return HardFunction.draw(config.reduction_d, n_pieces=config.reduction_pieces,
                             seed=config.seed + 7919 * (index + 1))


def run_reduction(config: Config, progress: bool = False) -> ReductionRuns:
    transcripts, run_rows = {}, {}
    instances = [hard_instance(config, i) for i in range(config.reduction_instances)]
    for m in tqdm(config.reduction_cuts(), desc="reduction", disable=not progress):
        transcripts[m], rows = [], []
        for F in instances:
            run = reduction.run_optimizer(F, m, config.reduction_queries)
            rows.append(int((run.pieces < 0).sum()))
            transcripts[m].append([reduction.play_block(F, run, block, m, config.reduction_k)
                                   for block in reduction.blocks(run, config.reduction_k)])
        run_rows[m] = np.array(rows)
    return ReductionRuns(config.reduction_d, config.reduction_k, config.reduction_queries, transcripts, run_rows)


@dataclass
class Result:
    config: Config
    runs: dict[int, DimensionRuns]
    small: SmallGame
    reduction: ReductionRuns | None = None


def _quantisation_sweep(A: np.ndarray, k: int, bits: np.ndarray) -> np.ndarray:
    """For each b, the worst ||A y~_i||_inf / ||y~_i|| over i in each trial, y~ the null vectors
    quantised to b bits per coordinate (no query is made)."""
    Y = players.null_vectors(A, k)
    out = np.empty((bits.size, A.shape[0]))
    for row, b in enumerate(bits):
        verdict = ovg.judge(A, codec.dequantise(codec.quantise(Y, int(b)), int(b)))
        out[row] = verdict.residuals.max(axis=1)
    return out


def run_dimension(config: Config, d: int) -> DimensionRuns:
    """Every game at dimension d, on one batch of ``config.trials`` matrices."""
    k = config.k(d)
    A = ovg.draw_matrices(d, config.trials, seed=np.random.default_rng([config.seed, d]))
    Y = players.null_vectors(A, k)
    residual = float(np.abs(np.einsum("tnd,tkd->tkn", A.astype(float), Y)).max())
    runs = DimensionRuns(d, k, players.AnswerStorer.guaranteed_bits(d), residual,
                         ovg.play(players.Memoryless(), A, k, 0))
    for name, player in PLAYERS.items():
        runs.games[name] = [ovg.play(player, A, k, int(budget))
                            for budget in budget_grid(d, k, config.budgets_per_decade)]
    runs.sweep_bits = np.arange(1, runs.b_star + 3)
    runs.sweep_residuals = _quantisation_sweep(A, k, runs.sweep_bits)
    return runs


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's games for ``config``."""
    with single_blas_thread():
        A = ovg.draw_matrices(config.small_d, 1, seed=np.random.default_rng([config.seed, 1]))
        game = ovg.play(players.Memoryless(config.seed), A, config.small_k, 0, record=True)
        small = SmallGame(A[0], game)
        runs = {d: run_dimension(config, d) for d in tqdm(config.dims, desc="OVG", disable=not progress)}
        reduced = run_reduction(config, progress)
    return Result(config, runs, small, reduced)


# -- figures -----------------------------------------------------------------------------------
def plot_small_game(result: Result):
    """The game at d = 8: A, the products |<a_j, x_t>| of each query, and |A y_i| of the output."""
    small = result.small
    A = small.A
    n, d = A.shape
    fig, (left, middle, right) = plotting.figure(ncols=3, panel=(5.0, 3.4))
    left.imshow(A, cmap="coolwarm", vmin=-1.5, vmax=1.5)
    for (j, l), value in np.ndenumerate(A):
        left.text(l, j, "+" if value > 0 else "−", ha="center", va="center", fontsize=9)
    left.set_xticks(range(d))
    left.set_yticks(range(n))
    left.grid(False)
    plotting.axes_labels(left, xlabel="coordinate l", ylabel="row j of A",
                         title=f"A: {n} × {d} signs (red +1, blue −1)")
    products = np.array([np.abs(A @ x) / np.linalg.norm(x) for x, _ in small.queries]).T
    shown = np.log10(np.maximum(products, 1e-17))
    image = middle.imshow(shown, cmap="viridis", vmin=-17, vmax=1, aspect="auto")
    for t, (x, _) in enumerate(small.queries):
        j = int(np.argmax(np.abs(A @ x)))
        middle.add_patch(Rectangle((t - 0.5, j - 0.5), 1, 1, fill=False, ec="white", lw=2))
    middle.set_xticks(range(products.shape[1]), [f"x{t + 1}" for t in range(products.shape[1])])
    middle.set_yticks(range(n))
    middle.grid(False)
    fig.colorbar(image, ax=middle, label="log10 |⟨a_j, x_t⟩|/‖x_t‖")
    plotting.axes_labels(middle, xlabel="query t (boxed: the row returned)", ylabel="row j of A",
                         title="Each query reveals a new row")
    residuals = np.abs(A @ small.outputs.T) / np.linalg.norm(small.outputs, axis=1)
    for i in range(residuals.shape[1]):
        right.semilogy(range(n), np.maximum(residuals[:, i], 1e-18), "o-", label=f"y{i + 1}")
    right.axhline(d**-4.0, ls="--", color="black", lw=1.2, label="judge's bound d⁻⁴")
    right.set_xticks(range(n))
    right.legend(loc="center right")
    plotting.axes_labels(right, xlabel="row j of A", ylabel="|⟨a_j, y_i⟩| for unit y_i",
                         title="The k outputs are orthogonal to A")
    return fig


def _symlog_bits(ax, d: int, top: float) -> None:
    """A message-size axis: linear below d/2 bits (so M = 0 shows), logarithmic above."""
    ax.set_xscale("symlog", linthresh=d / 2, linscale=0.4)
    powers = 10 ** np.arange(np.ceil(np.log10(d)), np.floor(np.log10(top)) + 1)
    ax.set_xticks([0, *powers], ["0", *[f"$10^{{{int(np.log10(p))}}}$" for p in powers]])
    ax.set_xlim(-d / 8, 1.3 * top)


def plot_queries_vs_bits(result: Result):
    """Queries each player needs to win every trial against the message size, one panel per d."""
    dims = list(result.runs)
    ncols = 2 if len(dims) > 1 else 1
    fig, axes = plotting.figure(ncols=ncols, nrows=int(np.ceil(len(dims) / ncols)), panel=(3.3, 3.2))
    for ax, d in zip(axes, dims):
        runs = result.runs[d]
        half, k = runs.half, runs.k
        top = half + k + 4
        budgets, envelope = runs.envelope()
        ax.step(budgets, envelope, where="post", color="gray", lw=7, alpha=0.3, label="lower envelope")
        ax.plot([0], [runs.memoryless.queries.max()], "s", color=COLOURS["memoryless"], ms=8,
                label=LABELS["memoryless"])
        for player in runs.games:
            b, mean, _ = runs.queries_needed(player)
            ax.plot(b, mean, ".-", drawstyle="steps-post", color=COLOURS[player], lw=1.4,
                    label=LABELS[player])
            lost = runs.losses(player)
            ax.plot(lost, np.full(lost.shape, top - 1.5), "x", color=COLOURS[player], ms=5)
        grid = np.arange(0, half * d + 2 * d, d)
        plotting.theory(ax, grid, np.maximum(half - grid // d, 0), color=COLOURS["rows"],
                        label="theory for (ii): d/2 − ⌊M/d⌋").set_drawstyle("steps-post")
        ax.axvline(runs.kd, color="black", lw=1.2, label="M = k d")
        ax.axvline(runs.kd * runs.b_star, color=COLOURS["answers"], ls="--", lw=1.2,
                   label="M = k d b*: (iii) guaranteed to win")
        ax.axhline(half, color="black", ls=":", lw=1.2, label="d/2 queries")
        ax.axhline(half - k, color="gray", ls=":", lw=1.0, label="d/2 − k queries")
        ax.set_ylim(-2, top)
        _symlog_bits(ax, d, budgets.max())
        plotting.axes_labels(ax, xlabel="message size M (bits)", ylabel="queries to win every trial",
                             title=f"d = {d}, k = {k}, {runs.memoryless.trials} trials")
    for ax in axes[len(dims):]:
        ax.set_visible(False)
    axes[0].plot([], [], "x", color="gray", label="× (top): lost at least one trial")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8.5)
    return fig


def plot_why_cheap_players_lose(result: Result):
    """Left: the worst ||A y~||_inf of quantised null vectors against bits per coordinate, with
    the worst-case bound. Right: the sketching player's best ||A y||_inf against M / (k d)."""
    fig, (left, right) = plotting.figure(ncols=2, panel=(6.0, 4.2))
    colours = plotting.palette(len(result.runs))
    for colour, (d, runs) in zip(colours, result.runs.items()):
        bits = runs.sweep_bits
        plotting.mean_band(left, bits, runs.sweep_residuals.T * d**4, label=f"d = {d}", color=colour)
        bound = [codec.orthogonality_bound(d, int(b), runs.residual) * d**4 for b in bits]
        plotting.theory(left, bits, bound, label=None, color=colour)
        left.axvline(runs.b_star, color=colour, ls=":", lw=1.0)
        games = runs.games["sketch"]
        ratio = np.array([g.budget / runs.kd for g in games])
        worst = np.array([g.verdict.residuals.max(axis=1) for g in games]).T * d**4
        keep = ratio > 0
        plotting.mean_band(right, ratio[keep], worst[:, keep], label=f"d = {d}", color=colour)
        right.axvline(sketch_threshold(d, runs.k) / runs.kd, color=colour, ls=":", lw=1.0)
    left.plot([], [], ls="--", color="gray", label="worst case (τ + d 2⁻ᵇ)/(1 − √d 2⁻ᵇ)")
    left.plot([], [], ls=":", color="gray", label="b*: the bound meets d⁻⁴")
    for ax in (left, right):
        ax.axhline(1.0, color="black", lw=1.2)
    left.legend(loc="lower left", fontsize=8)
    plotting.axes_labels(left, xlabel="bits per coordinate b", logy=True,
                         ylabel="max_i ‖A ỹ_i‖∞ / d⁻⁴ (judge: ≤ 1)",
                         title="Quantised answers pass once b is large enough")
    right.axvline(1.0, color="black", ls="--", lw=1.2, label="M = k d")
    right.plot([], [], ls=":", color="gray", label="s = d/2 + k projections")
    right.legend(loc="lower left", fontsize=8)
    plotting.axes_labels(right, xlabel="message size M / (k d)", logx=True, logy=True,
                         ylabel="max_i ‖A y_i‖∞ / d⁻⁴ (judge: ≤ 1)",
                         title="The sketch fails by orders of magnitude below k d")
    return fig


def plot_reduction(result: Result):
    """Left: rows of A the reduction's player queried in its best winning block, against the
    optimizer's cut limit m (a cross at the run's barrier queries where no block won); and in
    the block that starts at the second query. Right: the judge's max_i ||A y_i||_inf / d^-4
    and the largest projection over 1 - 1/d^2 of every transcript's answers (<= 1: passes)."""
    red = result.reduction
    d, cuts = red.d, np.array(red.cuts, dtype=float)
    fig, (left, right) = plotting.figure(ncols=2, panel=(5.0, 3.6))
    for m in red.cuts:
        need, first = red.rows_needed(m), red.first_block_rows(m)
        jitter = m * (1 + 0.03 * (np.arange(need.size) - need.size / 2) / need.size)
        won = np.isfinite(need)
        left.scatter(jitter[won], need[won], color="C1", marker="o", s=18)
        left.scatter(jitter[~won], red.run_rows[m][~won], color="C3", marker="x", s=24)
        keep = np.isfinite(first)
        left.scatter(jitter[keep], first[keep], color="C0", marker="s", s=14, alpha=0.7)
    left.scatter([], [], color="C1", marker="o", s=18, label="best winning block")
    left.scatter([], [], color="C3", marker="x", s=24,
                 label=f"no winning block: barrier queries of the run (T = {red.queries})")
    left.scatter([], [], color="C0", marker="s", s=14, label="block from the 2nd query (message: one cut)")
    left.axhline(d / 2, color="black", ls="--", lw=1.0, label="d/2: the memoryless player's queries")
    left.axvline(d, color="gray", ls=":", lw=1.0, label="m = d cuts")
    handles, labels = left.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    left.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(0.0, 0.42))
    plotting.axes_labels(left, xlabel="cuts kept by the optimizer m", logx=True,
                         ylabel="rows of A queried in the block",
                         title=f"Queries that reveal rows of A (d = {d}, k = {red.k})")
    left.set_yscale("symlog", linthresh=1.0)
    left.set_ylim(-0.3, 4 * red.queries)
    left.set_xticks(cuts, [str(int(m)) for m in cuts])
    left.minorticks_off()
    for t in red.all_transcripts():
        v = t.verdict
        ratio = v.residuals[0].max() * d**4
        if np.isfinite(ratio):  # a block from the first query answers y_1 = 0: inf, not drawn
            right.scatter(t.max_cuts, ratio, color="C2", marker="o", s=14)
        right.scatter(t.max_cuts * 1.06, v.projections[0].max() / ovg.independence_threshold(d),
                      color="C4", marker="^", s=12)
    right.scatter([], [], color="C2", marker="o", s=14, label="max_i ‖A y_i‖∞ / d⁻⁴")
    right.scatter([], [], color="C4", marker="^", s=12, label="max_i ‖Proj y_i‖ / (1 − 1/d²)")
    right.axhline(1.0, color="black", lw=1.2)
    right.legend(fontsize=7, loc="lower left")
    plotting.axes_labels(right, xlabel="cuts kept by the optimizer m", logx=True, logy=True,
                         ylabel="judge's measure / threshold (≤ 1 passes)",
                         title="The judge's verdict on every transcript")
    right.set_xticks(cuts, [str(int(m)) for m in cuts])
    right.minorticks_off()
    return fig


def figures(result: Result) -> dict:
    out = {
        "small_game": plot_small_game(result),
        "queries_vs_bits": plot_queries_vs_bits(result),
        "cheap_players": plot_why_cheap_players_lose(result),
    }
    if result.reduction is not None:
        out["reduction"] = plot_reduction(result)
    return out


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run ovg``)."""
    out = {}
    for d, runs in result.runs.items():
        budgets, envelope = runs.envelope()
        below_fraction, below_min = runs.below_kd()
        sketch_fraction, sketch_best = runs.sketch_failures()
        answers_fraction, answers_budgets = runs.answers_from_bstar()
        out[str(d)] = {
            "k": runs.k,
            "b_star": runs.b_star,
            "unquantised_residual": runs.residual,
            "memoryless_success": runs.memoryless_success(),
            "answers_won_without_queries_from_kdb": answers_fraction,
            "answers_budgets_checked": answers_budgets,
            "below_kd_lose_or_at_least_half_minus_k": below_fraction,
            "below_kd_fewest_winning_queries": below_min,
            "sketch_fails_orthogonality_below_kd": sketch_fraction,
            "sketch_best_residual_over_threshold": sketch_best,
            "envelope": {str(int(b)): float(q) for b, q in zip(budgets, envelope)},
        }
    red = result.reduction
    if red is not None:
        out["reduction"] = {
            "d": red.d,
            "k": red.k,
            "within_rules_fraction": red.rule_fraction(),
            "later_blocks_won_fraction": red.later_win_fraction(),
            "small_memory_at_least_half_d_rows_fraction": red.small_memory_fraction(),
            "large_memory_fewer_than_half_d_rows_fraction": red.large_memory_fraction(),
            "rows_needed": {str(m): [float(r) for r in red.rows_needed(m)] for m in red.cuts},
            "first_block_rows": {str(m): [float(r) for r in red.first_block_rows(m)] for m in red.cuts},
            "run_barrier_queries": {str(m): red.run_rows[m].tolist() for m in red.cuts},
        }
    return out
