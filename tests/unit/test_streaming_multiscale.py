"""Streaming BSLS, ASGD and the clustered regression stream, against plain transcriptions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.optim.first_order import big_step_little_step, bsls_schedule
from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming_multiscale import (
    StreamingASGD,
    StreamingBSLS,
    asgd_parameters,
    asgd_steps,
    gaussian_asgd_constants,
)
from memopt.problems.multiscale import ClusteredQuadratic, ClusteredRegressionStream, cluster_scales


# -- the stream ----------------------------------------------------------------------------------
@given(kappa=st.floats(8.0, 1e6), cluster_dim=st.integers(1, 5), clusters=st.integers(2, 3))
@settings(max_examples=25, deadline=None)
def test_stream_covariance_has_exactly_the_cluster_eigenvalues(kappa, cluster_dim, clusters):
    stream = ClusteredRegressionStream(kappa, clusters, cluster_dim, 2.0, seeds=[0])
    expected = np.concatenate([np.linspace(mu, top, cluster_dim) if cluster_dim > 1 else [mu]
                               for top, mu in cluster_scales(kappa, clusters, 2.0)])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(stream.covariance)), np.sort(expected),
                               rtol=1e-9, atol=1e-12)
    assert stream.scales[0][0] == 1.0 and math.isclose(stream.kappa, kappa)
    # Each cluster's block of the basis spans the eigenvectors of its eigenvalues.
    for block, (top, mu) in zip(stream.blocks, stream.scales):
        values = np.linalg.eigvalsh(block.T @ stream.covariance @ block)
        assert values.min() >= mu * (1 - 1e-9) and values.max() <= top * (1 + 1e-9)


def test_stream_sample_covariance_and_labels():
    stream = ClusteredRegressionStream(100.0, 2, 3, seeds=[1, 2])
    rows, labels = stream.draw(200_000)
    empirical = np.einsum("cd,ce->de", rows[0], rows[0]) / rows.shape[1]
    sigma = stream.covariance
    # Entry-wise standard error of the sample covariance: sqrt((s_ii s_jj + s_ij^2) / n).
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / rows.shape[1])
    assert np.all(np.abs(empirical - sigma) <= 6 * se)
    np.testing.assert_allclose(labels, np.einsum("rcd,rd->rc", rows, stream.targets))
    np.testing.assert_allclose(np.linalg.norm(stream.targets, axis=1), 1.0)


def test_stream_does_not_depend_on_chunking_or_other_trials():
    a = ClusteredRegressionStream(50.0, seeds=[3, 4])
    b = ClusteredRegressionStream(50.0, seeds=[4])
    first = np.concatenate([a.draw(5)[0], a.draw(7)[0]], axis=1)
    np.testing.assert_array_equal(first[1], b.draw(12)[0][0])


def test_stream_noise_and_bad_input():
    stream = ClusteredRegressionStream(50.0, seeds=[0], noise=0.1)
    rows, labels = stream.draw(1000)
    residual = labels - np.einsum("rcd,rd->rc", rows, stream.targets)
    assert 0 < np.abs(residual).max() <= 0.1
    with pytest.raises(ValueError, match="kappa"):
        ClusteredRegressionStream(2.0, 2, 4, 2.0)
    with pytest.raises(ValueError, match="seeds"):
        ClusteredRegressionStream(50.0, seeds=[])
    with pytest.raises(ValueError, match="seeds"):
        ClusteredRegressionStream(50.0, seeds=[-1])
    with pytest.raises(ValueError, match="noise"):
        ClusteredRegressionStream(50.0, noise=-1.0)


# -- streaming BSLS --------------------------------------------------------------------------------
def _exact_block(stream):
    """d rows whose mean outer product is Sigma exactly: sqrt(d lambda_j) u_j."""
    d = stream.dimension
    return (stream.basis * np.sqrt(d * stream.eigenvalues)).T


@pytest.mark.parametrize("clusters, kappa", [(2, 1e3), (3, 1e4)])
def test_streaming_bsls_with_exact_gradients_is_the_deterministic_method(clusters, kappa):
    stream = ClusteredRegressionStream(kappa, clusters, 3, 2.0, seeds=[0])
    d = stream.dimension
    x_star = stream.targets[0]
    block = _exact_block(stream)
    quadratic = ClusteredQuadratic(stream.eigenvalues, stream.basis, x_star, stream.scales, stream.blocks)
    schedule = bsls_schedule(stream.scales)
    method = StreamingBSLS(d, stream.scales, batch=d)
    for big_steps in range(4):
        evaluations = schedule.evaluations_at(big_steps)
        reference = big_step_little_step(quadratic, np.zeros(d), tol=1e-300, max_evaluations=max(evaluations, 1))
        while method.gradients < evaluations:
            method.consume(block[None], (block @ x_star)[None])
        np.testing.assert_allclose(method.estimate()[0], reference.x, rtol=0, atol=1e-9)
    assert method.samples_seen == schedule.evaluations_at(3) * d


def _plain_bsls(samples, scales, batch, little_steps):
    """A plain transcription: the BSLS recursion with every gradient the mean of the next
    ``batch[level]`` sample gradients; returns the repaired points before each big step."""
    sizes = [1 / top for top, _ in scales]
    momenta = [(math.sqrt(L) - math.sqrt(m)) / (math.sqrt(L) + math.sqrt(m)) for L, m in scales]
    source = iter(samples)

    def gradient(level, y):
        total = np.zeros_like(y)
        for _ in range(batch[level]):
            a, b = next(source)
            total += a * (a @ y - b)
        return total / batch[level]

    def inner(level, y):
        x = x_prev = y
        for t in range(little_steps[level]):
            z = x if t == 0 else x + momenta[level] * (x - x_prev)
            if level > 0:
                z = inner(level - 1, z)
                if t == 0:
                    x = x_prev = z
            g = gradient(level, z)
            x_prev, x = x, z - sizes[level] * g
        return inner(level - 1, x) if level > 0 else x

    top = len(scales) - 1
    x = x_prev = np.zeros(len(samples[0][0]))
    estimates = []
    try:
        for t in range(10**6):
            z = x if t == 0 else x + momenta[top] * (x - x_prev)
            z = inner(top - 1, z)
            if t == 0:
                x = x_prev = z
            estimates.append(z)
            g = gradient(top, z)
            x_prev, x = x, z - sizes[top] * g
    except StopIteration:
        return estimates


@pytest.mark.parametrize("clusters, batch", [(2, (6, 8)), (3, (4, 6, 8))])
def test_streaming_bsls_matches_a_plain_transcription_on_noisy_samples(clusters, batch):
    stream = ClusteredRegressionStream(1e3, clusters, 2, 2.0, seeds=[5, 6], noise=0.01)
    d = stream.dimension
    rows, labels = stream.draw(6000)
    method = StreamingBSLS(d, stream.scales, batch=batch, trials=2)
    little = method.schedule.little_steps
    estimates = []
    for j in range(rows.shape[1]):
        method.update(rows[:, j], labels[:, j])
        if not estimates or not np.array_equal(estimates[-1], method.estimate()):
            estimates.append(method.estimate().copy())
    for trial in range(2):
        plain = _plain_bsls(list(zip(rows[trial], labels[trial])), stream.scales, batch, little)
        # Ours starts with x0 itself (before any sample); the plain one stops when the samples
        # run out.
        ours = [e[trial] for e in estimates[1:]]
        assert len(plain) >= 2
        np.testing.assert_allclose(np.array(ours[:len(plain)]), np.array(plain), rtol=1e-10, atol=1e-12)


def test_streaming_bsls_tracking_matches_sample_by_sample():
    stream = ClusteredRegressionStream(1e3, 2, 3, seeds=[0, 1, 2])
    rows, labels = stream.draw(700)
    a = StreamingBSLS(stream.dimension, stream.scales, batch=(4, 6), trials=3)
    b = StreamingBSLS(stream.dimension, stream.scales, batch=(4, 6), trials=3)
    chunked = np.concatenate([a.consume_tracking(rows[:, :333], labels[:, :333], stream.targets),
                              a.consume_tracking(rows[:, 333:], labels[:, 333:], stream.targets)], axis=1)
    one_by_one = []
    for j in range(rows.shape[1]):
        b.update(rows[:, j], labels[:, j])
        one_by_one.append(np.linalg.norm(b.estimate() - stream.targets, axis=1))
    np.testing.assert_allclose(chunked, np.array(one_by_one).T, rtol=1e-12, atol=1e-14)
    assert a.samples_seen == b.samples_seen == 700


def test_streaming_bsls_samples_per_big_step_and_memory():
    stream = ClusteredRegressionStream(1e4, 3, 2, seeds=[0])
    method = StreamingBSLS(stream.dimension, stream.scales, batch=(2, 3, 5))
    schedule = method.schedule
    # Gradients between two big steps: one call of level m-1 plus the big step's own.
    per_level = [2 * t for t in schedule.little_steps]
    assert method.samples_per_big_step() == 5 + (schedule.little_steps[1] * 3
                                                 + (schedule.little_steps[1] + 1) * per_level[0])
    rows, labels = stream.draw(20 * method.samples_per_big_step())
    peak = 0
    for j in range(rows.shape[1]):
        method.update(rows[:, j], labels[:, j])
        peak = max(peak, method.memory_floats)
    assert peak <= (3 * schedule.levels + 3) * stream.dimension


def test_streaming_bsls_converges_on_the_stream():
    stream = ClusteredRegressionStream(1e3, 2, 4, seeds=range(4))
    d = stream.dimension
    runs = run_methods({"BSLS": StreamingBSLS(d, stream.scales, batch=2 * (d + 2), trials=4)}, stream,
                       accuracy=1e-3, max_samples=50_000)
    assert np.all(np.isfinite(runs["BSLS"].samples_to_accuracy))


def test_streaming_bsls_bad_input():
    scales = cluster_scales(100.0, 2, 2.0)
    with pytest.raises(ValueError, match="batch"):
        StreamingBSLS(4, scales, batch=0)
    with pytest.raises(ValueError, match="batch"):
        StreamingBSLS(4, scales, batch=(1, 2, 3))
    with pytest.raises(TypeError, match="batch"):
        StreamingBSLS(4, scales, batch=2.5)
    with pytest.raises(ValueError, match="scales"):
        StreamingBSLS(4, [(1.0, 0.5)], batch=2)
    method = StreamingBSLS(4, scales, batch=2, trials=2)
    with pytest.raises(ValueError, match="rows"):
        method.update(np.zeros((2, 3)), np.zeros(2))


# -- ASGD ------------------------------------------------------------------------------------------
def test_asgd_parameters_closed_form():
    mu, r2, kt = 0.01, 5.0, 10.0
    alpha, beta, gamma, delta = asgd_parameters(mu, r2, kt)
    s = math.sqrt(r2 / mu * kt)
    assert math.isclose(alpha, 3 * math.sqrt(5) * s / (1 + 3 * math.sqrt(5) * s))
    assert math.isclose(beta, alpha / (9 * s))
    assert math.isclose(gamma, 1 / (3 * math.sqrt(5) * mu * s))
    assert math.isclose(delta, 1 / (5 * r2))
    steps = asgd_steps(mu, r2, kt, 100.0)
    assert (1 - 1 / (9 * s)) ** steps <= 1 / 100 < (1 - 1 / (9 * s)) ** (steps - 1)
    with pytest.raises(ValueError, match="mu"):
        asgd_parameters(0.0, 1.0, 1.0)


def test_gaussian_asgd_constants_are_the_tight_moment_bounds():
    stream = ClusteredRegressionStream(100.0, 2, 3, seeds=[0])
    sigma = stream.covariance
    mu, r2, kt = gaussian_asgd_constants(stream.eigenvalues)
    # E[||a||^2 a a^T] = 2 Sigma^2 + tr(Sigma) Sigma (Isserlis); R^2 Sigma - it is PSD, singular.
    fourth = 2 * sigma @ sigma + np.trace(sigma) * sigma
    gap = np.linalg.eigvalsh(r2 * sigma - fourth)
    assert gap.min() >= -1e-12 and abs(gap.min()) <= 1e-9
    assert kt == stream.dimension + 2 and math.isclose(mu, stream.eigenvalues.min())
    # Monte Carlo check of the fourth moment.
    rows = stream.draw(400_000)[0][0]
    empirical = np.einsum("c,cd,ce->de", (rows**2).sum(axis=1), rows, rows) / rows.shape[0]
    assert np.abs(empirical - fourth).max() <= 0.05 * np.abs(fourth).max()


def test_asgd_matches_a_plain_transcription():
    stream = ClusteredRegressionStream(100.0, 2, 3, seeds=[7, 8], noise=0.01)
    mu, r2, kt = gaussian_asgd_constants(stream.eigenvalues)
    rows, labels = stream.draw(500)
    method = StreamingASGD(stream.dimension, mu, r2, kt, trials=2)
    tracked = method.consume_tracking(*method.validate(rows, labels), stream.targets)
    alpha, beta, gamma, delta = asgd_parameters(mu, r2, kt)
    for trial in range(2):
        x = [0.0] * stream.dimension
        v = list(x)
        for j in range(rows.shape[1]):
            a = [float(t) for t in rows[trial, j]]
            y = [alpha * xi + (1 - alpha) * vi for xi, vi in zip(x, v)]
            r = sum(ai * yi for ai, yi in zip(a, y)) - float(labels[trial, j])
            x = [yi - delta * r * ai for yi, ai in zip(y, a)]
            v = [beta * yi + (1 - beta) * vi - gamma * r * ai for yi, vi, ai in zip(y, v, a)]
            error = math.sqrt(sum((xi - ti) ** 2 for xi, ti in zip(x, stream.targets[trial])))
            assert math.isclose(tracked[trial, j], error, rel_tol=1e-9, abs_tol=1e-12)
        np.testing.assert_allclose(method.estimate()[trial], x, rtol=1e-9, atol=1e-12)
    assert method.memory_floats == 2 * stream.dimension
