"""Exercise ex-grokking-more-data (chapter: Grokking).

Train Gromov's MLP, at the chapter's weight decay, on a larger fraction of the table than the
chapter's (on a smaller table, so that it runs in seconds). Does it generalise earlier or later?
Does it memorise earlier or later?

Prediction: Power et al.'s Figure 1 (centre), which the chapter's claim (c) follows: the more
data, the sooner the network generalises. Memorising, in contrast, is fast at any fraction (a
few dozen full-batch steps), so the gap between the two shrinks. The check, on two seeds: with
the larger fraction the first step with validation accuracy 99% comes strictly earlier than
with the smaller one, and both fractions reach 99% training accuracy within the first fifty
steps.
"""

from dataclasses import replace

from memopt.experiments import grokking

chapter = grokking.Config().mlp
base = replace(chapter, modulus=59, width=300)
fractions = (0.3, 0.5)
for seed in (0, 1):
    t_val = {}
    for fraction in fractions:
        record = grokking.train_run(replace(base, train_fraction=fraction, seed=seed))
        t_val[fraction] = record.t_val
        print(
            f"p = {base.modulus}, seed {seed}, training fraction {fraction:g}: "
            f"t_train = {record.t_train}, "
            f"t_val = {record.t_val}"
        )
        if not record.t_train <= 50:
            raise AssertionError(
                f"seed {seed}, fraction {fraction:g}: memorising took "
                f"{record.t_train} steps, over 50"
            )
    if not t_val[fractions[1]] < t_val[fractions[0]]:
        raise AssertionError(
            f"seed {seed}: with fraction {fractions[1]:g} the network generalised at "
            "step "
            f"{t_val[fractions[1]]}, not before step {t_val[fractions[0]]} (fraction "
            f"{fractions[0]:g})"
        )
