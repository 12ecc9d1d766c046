"""Exercise ex-multiscale-kappa (chapter: Big steps, little steps).

On the two-cluster quadratic, multiply kappa by 100 (from 10^2 to 10^4). Predict by what factor
the gradient evaluations of Nesterov's method and of Big-Step-Little-Step grow.

Prediction: Nesterov's method needs about sqrt(kappa) ln(1/tol) evaluations: x10. BSLS's count
is a product over the scales, sqrt(kappa_i) times a logarithm of the gap L_1/L_2 ~ kappa/2 for the
inner level and a kappa-free factor for the outer one: it grows only with ln(kappa), as the
schedule's predicted count (N* + 1)(T_1 + 1) - 1 says. The check, on three instances: Nesterov's
median factor lies in [5, 20], and BSLS's lies within a factor 1.5 of the factor of the
schedule's predicted counts and below 3.
"""

import numpy as np

from memopt.experiments import multiscale

config = multiscale.Config()
low, high = 1e2, 1e4
counts = {
    ("Nesterov", low): [],
    ("Nesterov", high): [],
    ("BSLS", low): [],
    ("BSLS", high): [],
}
predicted = {}
for instance in range(3):
    for kappa in (low, high):
        problem = multiscale.make_problem(config, "2 clusters", kappa, instance)
        predicted[kappa] = multiscale.predicted_evaluations(
            "BSLS", problem.scales, config.tol
        )
        for method in ("Nesterov", "BSLS"):
            run = multiscale.METHODS[method](
                problem,
                np.zeros(problem.dimension),
                tol=config.tol,
                max_evaluations=config.max_evaluations,
            )
            if run.evaluations_to_tol is None:
                raise AssertionError(
                    f"{method} did not reach tol at kappa = {kappa:g}, instance "
                    f"{instance}"
                )
            counts[method, kappa].append(run.evaluations_to_tol)

factors = {
    method: float(np.median(counts[method, high]) / np.median(counts[method, low]))
    for method in ("Nesterov", "BSLS")
}
schedule = predicted[high] / predicted[low]
for method in ("Nesterov", "BSLS"):
    print(
        f"{method}: median evaluations {np.median(counts[method, low]):g} at kappa = "
        f"{low:g}, "
        f"{np.median(counts[method, high]):g} at kappa = {high:g}: "
        f"x{factors[method]:.2f}"
    )
print(
    f"the schedule's predicted BSLS counts: {predicted[low]} and {predicted[high]}: "
    f"x{schedule:.2f}"
)
if not 5 <= factors["Nesterov"] <= 20:
    raise AssertionError(
        f"Nesterov's evaluations grew x{factors['Nesterov']:.2f}, outside [5, 20]"
    )
if not (schedule / 1.5 <= factors["BSLS"] <= 1.5 * schedule and factors["BSLS"] < 3):
    raise AssertionError(
        f"BSLS's evaluations grew x{factors['BSLS']:.2f}; the schedule predicts "
        f"x{schedule:.2f}"
    )
