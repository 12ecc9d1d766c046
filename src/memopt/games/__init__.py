"""Games whose memory/query tradeoffs underlie the lower bounds the book checks.

:mod:`memopt.games.ovg` holds the Orthogonal Vector Game's rules (oracle, judge, :func:`play`),
:mod:`memopt.games.codec` its bit-level messages and quantisation, :mod:`memopt.games.players`
the strategies, and :mod:`memopt.games.reduction` the reduction from a memory-limited optimizer
on the hard function to a player of the game.
"""

from memopt.games.codec import Message, MessageReader, MessageWriter, required_bits
from memopt.games.ovg import GameResult, MessageTooLong, Oracle, Verdict, draw_matrices, judge, play
from memopt.games.players import AnswerStorer, Memoryless, RowStorer, SketchPlayer

__all__ = [
    "AnswerStorer",
    "GameResult",
    "Memoryless",
    "Message",
    "MessageReader",
    "MessageTooLong",
    "MessageWriter",
    "Oracle",
    "RowStorer",
    "SketchPlayer",
    "Verdict",
    "draw_matrices",
    "judge",
    "play",
    "required_bits",
]
