"""Exercise ex-adaptive-larger-c (chapter: Adaptive methods, and where Adam does not converge).

Double the counterexample's C (the chapter's C = 3 becomes 2C) and set Adam's beta_2 to the
theorem's 1/(1 + C^2) for the new C. Predict where Adam and AMSGrad end and Adam's average regret.

Prediction: the theorem holds for every C > 2, so Adam again ends at the worst point +1 and its
average regret tends to 2(C - 2)/3, which grows with C; AMSGrad's running maximum remembers C^2
and it ends at the best point -1. The check, after a shorter run than the chapter's: Adam's last
iterates average at least 0.99 and its R_T/T is at least half of 2(C - 2)/3; AMSGrad's last
iterates average at most -0.99.
"""

from memopt.experiments import adaptive
from memopt.optim import AMSGrad, Adam

config = adaptive.Config(C=2 * adaptive.Config().C, steps=30_000, tail=3_000)
result = adaptive.Result(config, adaptive.AdamCounterexample(config.C))
beta2 = result.problem.adam_beta2()
settings = {"lr": config.lr, "eps": config.eps, "decay": "inverse_sqrt"}
for name, method in {
    "Adam": Adam(betas=(0.0, beta2), **settings),
    "AMSGrad": AMSGrad(betas=(0.0, beta2), **settings),
}.items():
    result.iterates[name] = adaptive.play(
        method, result.problem, config.steps, config.lr
    )

limit = result.problem.regret_per_step_at(1.0)  # 2(C - 2)/3
print(f"C = {config.C:g}, beta2 = 1/(1 + C^2) = {beta2:.4f}, T = {config.steps} steps")
print(
    f"Adam: settles at {result.settled_at('Adam'):+.4f}, R_T/T = "
    f"{result.average_regret('Adam'):.3f} "
    f"(2(C - 2)/3 = {limit:.3f})"
)
print(
    f"AMSGrad: settles at {result.settled_at('AMSGrad'):+.4f}, R_T/T = "
    f"{result.average_regret('AMSGrad'):.4f}"
)
if result.settled_at("Adam") < 0.99:
    raise AssertionError(f"Adam settled at {result.settled_at('Adam'):+.4f}, not at +1")
if result.average_regret("Adam") < limit / 2:
    raise AssertionError(
        f"Adam's average regret {result.average_regret('Adam'):.3f} is below half of "
        f"{limit:.3f}"
    )
if result.settled_at("AMSGrad") > -0.99:
    raise AssertionError(
        f"AMSGrad settled at {result.settled_at('AMSGrad'):+.4f}, not at -1"
    )
