"""Games whose memory/query tradeoffs underlie the lower bounds the book checks."""

from memopt.games.ovg import (
    AnswerStorer,
    GameResult,
    Memoryless,
    Message,
    MessageReader,
    MessageTooLong,
    MessageWriter,
    Oracle,
    RowStorer,
    SketchPlayer,
    Verdict,
    draw_matrices,
    judge,
    play,
    required_bits,
)

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
