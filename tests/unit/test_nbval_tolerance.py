"""nbval's comparison with a stated tolerance (conftest.py): numbers may move by the tagged
percentage, everything else must match exactly."""

import nbformat
import pytest

import conftest


@pytest.mark.parametrize(
    "stored, new, relative, same",
    [
        ("loss 0.405 at step 120", "loss 0.403 at step 120", 0.01, True),
        ("loss 0.405 at step 120", "loss 0.455 at step 120", 0.01, False),
        ("loss 0.405 at step 120", "loss 0.404 at step 121", 0.0, True),  # one unit of the last digit
        ("loss 0.405 at step 120", "loss 0.403 at step 122", 0.0, False),
        ("[pass] ratio 4.9", "[fail] ratio 4.9", 0.5, False),  # words are exact
        ("ratio 4.9", "ratio 4.9 and 1", 0.5, False),  # as is the count of numbers
        ("gap 1e-06", "gap 1.01e-06", 0.02, True),
        ("exponent -0.51", "exponent 0.51", 0.02, False),
    ],
)
def test_numbers_match_within_the_tolerance(stored, new, relative, same):
    assert conftest.numbers_match(stored, new, relative) is same


def test_the_tag_states_the_tolerance():
    assert conftest.cell_tolerance({"metadata": {"tags": ["numbers-within-2%"]}}) == 0.02
    assert conftest.cell_tolerance({"metadata": {"tags": ["numbers-within-0.5%"]}}) == 0.005
    assert conftest.cell_tolerance({"metadata": {"tags": ["other"]}}) is None
    assert conftest.cell_tolerance({"metadata": {}}) is None


def test_outputs_within_the_tolerance_take_the_stored_text():
    stored = [nbformat.v4.new_output("stream", name="stdout", text="norm 118.2\n"),
              nbformat.v4.new_output("display_data", data={"text/plain": "[pass] r: measured 4.9"})]
    new = [nbformat.v4.new_output("stream", name="stdout", text="norm 118.9\n"),
           nbformat.v4.new_output("display_data", data={"text/plain": "[pass] r: measured 5.9"})]
    compared = conftest._within_tolerance(new, stored, 0.02)
    assert compared[0]["text"] == "norm 118.2\n"
    assert compared[1]["data"]["text/plain"] == "[pass] r: measured 5.9"  # left for nbval to report
    assert new[0]["text"] == "norm 118.9\n"  # the new outputs themselves are not changed


def test_images_are_not_read_as_numbers():
    """Base64 holds tokens like 8e412, which are no figures (and overflow as floats)."""
    picture = "iVBORw0KGgo8e412AAAANSUhEUg"
    stored = [nbformat.v4.new_output("display_data", data={"image/png": picture, "text/plain": "<Figure>"})]
    new = [nbformat.v4.new_output("display_data", data={"image/png": picture + "x", "text/plain": "<Figure>"})]
    assert conftest._within_tolerance(new, stored, 0.02)[0]["data"]["image/png"] == picture + "x"
