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


def allstar_column(label):
    """The allStar column a label is read from by default (``c_1_h`` -> ``CI_H``)."""
    if label.endswith("_h") and label != "fe_h":
        element = label[:-2]
        return {"c_1": "CI", "ti_2": "TIII"}.get(element, element.upper()) + "_H"
    return label.upper()


@pytest.fixture(scope="module")
def arrays(survey):
    """The survey's normalized spectra, labels (some missing, one spectrum with none) and
    errors (some unknown) as arrays, and the same labels as an astropy Table catalog."""
    from astropy.io import fits
    from astropy.table import Table

    with fits.open(survey / "normalized.fits") as hdus:
        flux = np.array(hdus["FLUX"].data, dtype=np.float64)
        ids = [str(i) for i in hdus["SPECTRA"].data["sdss4_apogee_id"]]
    names = astronn._astronn.label_names("astronn")
    rng = np.random.default_rng(5)
    labels = np.column_stack([rng.normal(4800, 300, len(ids))] + [rng.normal(0, 1, len(ids)) for _ in names[1:]])
    labels[rng.random(labels.shape) < 0.2] = np.nan
    labels[3] = np.nan
    errors = rng.uniform(0.01, 0.2, labels.shape)
    errors[rng.random(errors.shape) < 0.2] = np.nan
    catalog = Table({"APOGEE_ID": ids})
    for index, name in enumerate(names):
        catalog[allstar_column(name)] = labels[:, index]
        catalog[allstar_column(name) + "_ERR"] = errors[:, index]
    return flux, labels, errors, catalog


def test_train_on_arrays_and_on_a_table_writes_the_clis_model_bitwise(cli, survey, arrays, tmp_path):
    flux, labels, errors, catalog = arrays
    catalog.write(tmp_path / "catalog.fits")
    subprocess.run(
        [cli, "-q", "--threads", "1", "train", "--normalized", str(survey / "normalized.fits"),
         "--labels", str(tmp_path / "catalog.fits"), "--epochs", "2", "--batch-size", "16", "--seed", "3",
         "-o", str(tmp_path / "cli.safetensors")],
        check=True,
    )
    expected = tensors(tmp_path / "cli.safetensors")
    options = dict(epochs=2, batch_size=16, seed=3, threads=1)
    model, history = astronn.train(flux=flux, labels=labels, labels_err=errors, output=tmp_path / "arrays.safetensors", **options)
    assert tensors(tmp_path / "arrays.safetensors") == expected
    # The spectrum without labels is left out, as the catalog join leaves it out.
    assert history.meta["join"]["joined"] == 47
    assert history.meta["join"]["without_labels"] == 1
    assert model.metadata["spectra_sha256"] == astronn.load_model(tmp_path / "cli.safetensors").metadata["spectra_sha256"]
    assert "label_catalog" not in model.metadata
    # float32 flux and labels as a mapping of names (one left out: NaN) give the same set.
    mapping = {name: labels[:, k] for k, name in enumerate(model.labels)}
    table_model, _ = astronn.train(normalized=survey / "normalized.fits", catalog=catalog, **options)
    assert table_model.metadata["spectra_sha256"] == model.metadata["spectra_sha256"]
    assert table_model.metadata["command_line"].endswith("<astropy Table>) (Python)")
    mapped, _ = astronn.train(flux=flux.astype(np.float32), labels=mapping, labels_err=errors, epochs=1, threads=1)
    assert mapped.metadata["training_spectra"] == "47"


def test_train_on_arrays_of_a_distance_network(arrays):
    flux, _, _, _ = arrays
    fakemag = np.linspace(50, 300, len(flux))
    fakemag[:2] = np.nan
    model, history = astronn.train(flux=flux, labels=fakemag, kind="dist", epochs=1, batch_size=16, threads=1)
    assert model.kind == "dist" and model.labels == ["L_fakemag"]
    assert history.meta["join"]["joined"] == len(flux) - 2
    assert np.isfinite(history["val_mae_L_fakemag"][0])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"labels": np.zeros((48, 21))}, r"labels must have shape \(48, 22\)"),
        ({"labels": {"teff": np.zeros(48), "age": np.zeros(48)}}, r"labels: unknown label\(s\) age"),
        ({"labels_err": np.zeros((48, 2))}, r"labels_err must have shape \(48, 22\)"),
        ({"catalog": "labels.fits"}, "a label catalog is not used with them"),
        ({"where": "SNR > 50"}, "apply to a label catalog, not to spectra given as arrays"),
        ({"normalized": "normalized.fits"}, "train needs one source of spectra"),
        ({"labels": None}, r"flux= needs labels="),
        ({"labels": np.full((48, 22), np.nan)}, "empty training set: none of the 48 spectra has a label"),
        ({"flux": np.full((48, 7514), np.inf)}, "training spectrum 0 has a non-finite flux at pixel 0"),
        ({"flux": np.ones((48, 8575))}, r"flux must be a float32 or float64 array of shape \(N, 7514\)"),
    ],
)
def test_bad_arrays_are_a_value_error_before_any_work(arrays, tmp_path, options, message):
    flux, labels, _, _ = arrays
    arguments = dict(flux=flux, labels=labels, output=tmp_path / "model.safetensors", epochs=1)
    arguments.update(options)
    with pytest.raises(ValueError, match=message):
        astronn.train(**arguments)
    assert not os.path.exists(tmp_path / "model.safetensors.checkpoints")


def test_labels_without_flux_are_refused(survey):
    with pytest.raises(ValueError, match="labels= goes with flux="):
        astronn.train(normalized=survey / "normalized.fits", catalog=survey / "labels.fits", labels={"teff": "TEFF"})
