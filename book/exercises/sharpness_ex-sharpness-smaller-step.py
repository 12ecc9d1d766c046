"""Exercise ex-sharpness-smaller-step (chapter: Sharp and flat minima).

Run full-batch gradient descent on the digits network with half the chapter's smallest step.
Does the sharpness reach 2/eta before training ends?

Prediction: no. 2/eta doubles, and progressive sharpening stops once the cross-entropy starts
to flatten a network that classifies the training images well. The check: the largest
sharpness during training is below 0.9 x 2/eta and the final one below 2/eta.
"""

from dataclasses import replace

from memopt.experiments import sharpness

config = sharpness.SCALES["book"]
eta = min(config.eos_steps) / 2
result = sharpness.Result(replace(config, eos_steps=(eta,), eos_every=10))
result.eos[eta] = sharpness.run_eos(result.config, eta)
peak, final = result.eos_ratio(eta, "peak"), result.eos_ratio(eta)
print(f"eta = {eta:g}, 2/eta = {2 / eta:g}: sharpness x eta/2 largest {peak:.2f}, final {final:.2f}")
assert peak < 0.9, f"the sharpness reached {peak:.2f} x 2/eta"
assert final < 1.0, f"the final sharpness is {final:.2f} x 2/eta"
print("prediction holds")
