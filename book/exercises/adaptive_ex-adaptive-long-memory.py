"""Exercise ex-adaptive-long-memory (chapter: Adaptive methods, and where Adam does not converge).

Keep beta_1 = 0 but give Adam the usual beta_2 = 0.999 instead of the theorem's 1/(1 + C^2), on
the chapter's sequence (C = 3). Does Adam still end at the worst point?

Prediction: Adam fails because v forgets the large gradient C within a period of three steps.
With beta_2 = 0.999, v averages the squared gradients over about 1/(1 - beta_2) steps, hundreds
of periods, so it stays near (C^2 + 2)/3 and every step of the period is divided by the same
sqrt(v): Adam then moves like SGD with a rescaled step, whose drift over a period is the sum of
the slopes, C - 2 > 0, towards -1. The check: Adam with (0, 0.999) settles at -1 (last iterates
average at most -0.99), while with (0, 1/(1 + C^2)) it settles at +1 (at least 0.99).
"""

from memopt.experiments import adaptive
from memopt.optim import Adam

config = adaptive.Config(steps=30_000, tail=3_000)
result = adaptive.Result(config, adaptive.AdamCounterexample(config.C))
settings = {"lr": config.lr, "eps": config.eps, "decay": "inverse_sqrt"}
for name, beta2 in {
    "theorem's beta2": result.problem.adam_beta2(),
    "beta2 = 0.999": 0.999,
}.items():
    result.iterates[name] = adaptive.play(
        Adam(betas=(0.0, beta2), **settings), result.problem, config.steps, config.lr
    )
    print(
        f"Adam, beta1 = 0, beta2 = {beta2:.4f}: settles at "
        f"{result.settled_at(name):+.4f}, "
        f"R_T/T = {result.average_regret(name):.4f}"
    )
if result.settled_at("beta2 = 0.999") > -0.99:
    raise AssertionError(
        "Adam with beta2 = 0.999 settled at "
        f"{result.settled_at('beta2 = 0.999'):+.4f}, not at -1"
    )
if result.settled_at("theorem's beta2") < 0.99:
    settled = result.settled_at("theorem's beta2")
    raise AssertionError(
        f"Adam with the theorem's beta2 settled at {settled:+.4f}, not at +1"
    )
