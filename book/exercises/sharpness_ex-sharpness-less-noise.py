"""Exercise ex-sharpness-less-noise (chapter: Sharp and flat minima).

Run the noisy rule on the chapter's double well with a third of its noise. What fraction of
the runs reaches the wide well?

Prediction: few. The iterates behave like a diffusion at temperature eta sigma^2 / 2, and the
escape rate over a barrier falls like exp(-2 barrier / (eta sigma^2)): a third of the noise
divides the temperature by nine. The check: the fraction is below 0.2 and its whole Wilson
interval lies below one half.
"""

from dataclasses import replace

import numpy as np

from memopt.experiments import sharpness

config = sharpness.SCALES["book"]
config = replace(config, noise=config.noise / 3)
final = sharpness.run_well(config, "noisy")
fraction = sharpness.wilson(int(np.sum(final > config.well.barrier())), config.well_seeds)
print(f"noise sigma = {config.noise:g}: fraction in the wide well {fraction.describe()}")
assert fraction.value < 0.2 and fraction.high < 0.5, f"fraction {fraction.describe()}"
print("prediction holds")
