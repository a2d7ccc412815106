#!/usr/bin/env python3
"""Reference Jacobians: PyTorch autograd (`torch.autograd.functional.jacobian`) of Astra's
networks, deterministic pass (dropout off), on the fixtures' real normalized spectra.

    python scripts/jacobian_reference.py [--fixtures tests/fixtures] [-o tests/data/jacobian_reference]

Writes, for rows ROWS of `fixtures/inputs_norm_flux.npy` (real spectra):

- `astronn_label.npy` (rows, 22, 7514), float32: d label / d normalized-flux pixel, in label
  units (labels_std · d output / d input; Astra's input is flux − input_mean).
- `astronn_log_variance.npy` (1, 22, 7514), float32: d (predictive log-variance, normalised
  units) / d pixel, first row only.
- `dist_label.npy` (rows, 1, 7514): d L_fakemag / d pixel; `dist_log_variance.npy` (1, 1, 7514).
- `manifest.json`: rows, checkpoints' SHA-256, torch version.

Needs torch and numpy (`python3 -m venv venv && venv/bin/pip install torch numpy astropy`);
the networks are those of `scripts/pytorch_reference.py`.
"""

import argparse
import hashlib
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import pytorch_reference as reference  # noqa: E402

#: The real spectra of the fixtures' inputs (rows 6–11 are noisy copies): one per star.
ROWS = [0, 3]


def jacobians(model, flux, rows):
    """(label Jacobians [rows, labels, pixels], log-variance Jacobians [same]) of `model`."""
    model.mc_dropout = False
    input_mean = model.input_mean.detach().numpy()
    labels_std = model.labels_std.detach().numpy()
    values, log_variances = [], []
    for row in rows:
        # As Astra: flux − input_mean in float64, then float32.
        x = torch.tensor((flux[row] - input_mean).astype(np.float32))

        def outputs(x):
            output, log_variance = model(x[None, :, None])
            return output[0], log_variance[0]

        d_output, d_log_variance = torch.autograd.functional.jacobian(outputs, x)
        values.append(d_output.numpy().astype(np.float64) * labels_std[:, None])
        log_variances.append(d_log_variance.numpy())
    return np.array(values, dtype=np.float32), np.array(log_variances, dtype=np.float32)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default=reference.FIXTURES)
    parser.add_argument("-o", "--output", default="tests/data/jacobian_reference")
    args = parser.parse_args()
    fixtures = pathlib.Path(args.fixtures)
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    flux = np.load(fixtures / "inputs_norm_flux.npy")
    torch.set_grad_enabled(True)

    manifest = {"rows": ROWS, "torch": torch.__version__, "source": "scripts/jacobian_reference.py"}
    for name, cls, checkpoint in [
        ("astronn", reference.ApogeeBCNNCensored, "astronn_bcnn_censored.pt"),
        ("dist", reference.ApogeeDistBCNN, "astronn_dist_bcnn.pt"),
    ]:
        model = reference.load_network(cls, fixtures / checkpoint)
        values, log_variances = jacobians(model, flux, ROWS)
        np.save(out / f"{name}_label.npy", values)
        np.save(out / f"{name}_log_variance.npy", log_variances[:1])
        manifest[name] = {"checkpoint": checkpoint, "sha256": sha256(fixtures / checkpoint),
                          "shape": list(values.shape)}
        print(f"{name}: {values.shape}, max |d label/d pixel| {np.abs(values).max():.4g}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
