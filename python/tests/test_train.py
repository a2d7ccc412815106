"""``astronn.train``: the CLI's training run from Python, bitwise the CLI's model."""

import json
import os
import signal
import struct
import subprocess

import numpy as np
import pytest

import astronn


def tensors(path):
    """The tensors of a ``.safetensors`` file: name -> (dtype, shape, bytes)."""
    with open(path, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        data = file.read()
    header.pop("__metadata__", None)
    return {
        name: (entry["dtype"], entry["shape"], data[entry["data_offsets"][0] : entry["data_offsets"][1]])
        for name, entry in header.items()
    }


def cli_train(cli, survey, output, *extra):
    subprocess.run(
        [cli, "-q", "--threads", "1", "train", "--normalized", str(survey / "normalized.fits"),
         "--labels", str(survey / "labels.fits"), "--epochs", "2", "--batch-size", "16", "--seed", "3",
         "-o", str(output), *extra],
        check=True,
    )


def py_train(survey, output, **options):
    arguments = dict(epochs=2, batch_size=16, seed=3, threads=1)
    arguments.update(options)
    return astronn.train(
        normalized=survey / "normalized.fits", catalog=survey / "labels.fits", output=output, **arguments
    )


def test_train_writes_the_clis_model_bitwise(cli, survey, tmp_path):
    cli_train(cli, survey, tmp_path / "cli.safetensors")
    model, history = py_train(survey, tmp_path / "py.safetensors")
    expected = tensors(tmp_path / "cli.safetensors")
    assert tensors(tmp_path / "py.safetensors") == expected
    assert len(expected) > 10
    # The history is the metrics file's, the model the one written, ready to predict.
    with open(f"{tmp_path / 'cli.safetensors'}.metrics.json") as file:
        metrics = json.load(file)
    assert list(history["epoch"]) == [1, 2]
    assert list(history["train_loss"]) == [m["train_loss"] for m in metrics]
    assert history.meta["best_epoch"] in (1, 2)
    assert history.meta["join"]["joined"] == 48
    assert model.path == str(tmp_path / "py.safetensors")
    out = model.predict(np.ones((2, astronn.NETWORK_PIXELS)), normalized=True, mc=0)
    assert np.all(np.isfinite(out["teff"]))


def test_fine_tuning_keeps_frozen_tensors_bitwise(cli, survey, tmp_path):
    parent = tmp_path / "parent.safetensors"
    cli_train(cli, survey, parent)
    cli_train(cli, survey, tmp_path / "cli.safetensors", "--init", str(parent), "--freeze", "conv")
    tuned, _ = py_train(survey, tmp_path / "py.safetensors", init=parent, freeze="conv")
    before, after = tensors(parent), tensors(tmp_path / "py.safetensors")
    assert after == tensors(tmp_path / "cli.safetensors")
    conv = [name for name in after if "conv" in name]
    assert conv and all(after[name] == before[name] for name in conv)
    assert any(after[name] != before[name] for name in after if "conv" not in name)
    assert tuned.metadata["parent"] == str(parent)
    assert tuned.metadata["parent_sha256"] == astronn.load_model(parent).sha256


@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"save": "worst"}, "unknown epoch 'worst'"),
        ({"kind": "ages"}, "kind must be"),
        ({"freeze": "conv"}, "--freeze keeps a model's weights"),
        ({"precision": "f16"}, "unknown precision"),
        ({"where": "SNR >"}, "bad selection expression: expected a value after '>'"),
        ({"validation": 1.5}, r"the validation fraction must be in \[0, 1\), not 1.5"),
    ],
)
def test_a_bad_argument_is_a_value_error_before_any_work(survey, tmp_path, options, message):
    output = tmp_path / "model.safetensors"
    with pytest.raises(ValueError, match=message):
        py_train(survey, output, **options)
    assert not os.path.exists(output)
    assert not os.path.exists(f"{output}.metrics.json")
    assert not os.path.exists(f"{output}.checkpoints")


def test_an_existing_model_is_refused_unless_overwrite(survey, tmp_path):
    output = tmp_path / "model.safetensors"
    output.write_bytes(b"yesterday's model")
    with pytest.raises(FileExistsError):
        py_train(survey, output)
    assert output.read_bytes() == b"yesterday's model"
    py_train(survey, output, overwrite=True)
    assert tensors(output)


def test_ctrl_c_during_training_keeps_the_best_model_so_far(survey, tmp_path):
    output = tmp_path / "model.safetensors"

    def interrupt_after_the_first_epoch(event, done, total, metrics):
        if event == "epoch_finished" and done == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        astronn._astronn.train(
            [], str(survey / "labels.fits"), str(output), normalized=str(survey / "normalized.fits"),
            epochs=50, batch_size=16, seed=3, threads=1, progress=interrupt_after_the_first_epoch,
        )
    model = astronn.load_model(output)
    assert model.kind == "astronn"
    with open(f"{output}.metrics.json") as file:
        assert len(json.load(file)) < 50
