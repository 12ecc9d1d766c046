"""Exercise ex-grokking-no-decay (chapter: Grokking).

Switch off the weight decay of Gromov's MLP (AdamW with weight decay 0, everything else as the
chapter's MLP runs, on a smaller table so that it runs in seconds). Does the network still
memorise? Does it still generalise?

Prediction: memorising needs no weight decay: with p^2 * fraction training equations and far
more parameters, the training accuracy reaches 99% early either way. Generalising, in the
mechanism the chapter describes, is the slow drift towards smaller weights that weight decay
drives; without it nothing pulls the memorising solution towards the generalising one, and the
validation accuracy stays near chance, 1/p. The check, on two seeds: with and without weight
decay the training accuracy reaches 99%; with weight decay the validation accuracy does too,
and without it the final validation accuracy stays below 5/p.
"""

from dataclasses import replace

from memopt.experiments import grokking

chapter = grokking.Config().mlp
base = replace(chapter, modulus=59, width=300, train_fraction=0.3)
for seed in (0, 1):
    for decay in (chapter.weight_decay, 0.0):
        record = grokking.train_run(replace(base, weight_decay=decay, seed=seed))
        final = record.final_validation_accuracy()
        print(
            f"p = {base.modulus}, seed {seed}, weight decay {decay:g}: t_train = "
            f"{record.t_train}, "
            f"t_val = {record.t_val}, final validation accuracy {final:.3f} (chance "
            f"1/p = {1 / base.modulus:.3f})"
        )
        if record.t_train == float("inf"):
            raise AssertionError(
                f"seed {seed}, weight decay {decay:g}: the training accuracy never "
                "reached 99%"
            )
        if decay > 0 and record.t_val == float("inf"):
            raise AssertionError(
                f"seed {seed}: with weight decay the network did not generalise "
                "within the budget"
            )
        if decay == 0 and final >= 5 / base.modulus:
            raise AssertionError(
                f"seed {seed}: without weight decay the validation accuracy reached "
                f"{final:.3f}, "
                f"not below 5/p = {5 / base.modulus:.3f}"
            )
