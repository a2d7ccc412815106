#!/usr/bin/env python3
"""Small HDF5 files for `tests/hdf5.rs`, written by h5py the way Keras writes its weights.

Writes into tests/data/hdf5/ (or OUTPUT):

- `keras2_model.h5`: the layout of a Keras 2 (TensorFlow 2.x) `model.save("x.h5")`, made
  with the same h5py calls as keras/saving/legacy/hdf5_format.py: root attributes
  `keras_version` and `backend` (Python str: variable-length UTF-8 in the global heap),
  `model_config` and `training_config` (JSON encoded to bytes: fixed-length strings; the
  model_config is large enough to move the root's messages into a continuation block),
  `long_note` (a str longer than 64 KiB, with non-ASCII characters), group
  `model_weights` with `layer_names`, `backend`, `keras_version` (bytes), one group per
  layer with `weight_names` (an array of fixed-length byte strings, or an empty float64
  array for layers without weights) and float32 datasets at `<layer>/<layer>/kernel:0`,
  and `optimizer_weights` (an int64 scalar `iter:0` and float32 slots).
- `keras3_model.weights.h5`: the layout of the `model.weights.h5` inside a Keras 3
  `.keras` archive (`layers/<name>/vars/<i>`, `optimizer/vars/<i>`), written through an
  in-memory file object as Keras 3 does (a bfloat16 variable is 2-byte opaque data with
  attribute dtype="bfloat16", as Keras 3 stores it); `keras3_model.keras` is the zip
  archive with `config.json`, `metadata.json` and that file.
- `groups.h5`: a group with 40 members, a group with 300 hard links to one dataset (a
  symbol-table B-tree of two levels), an empty group, nested groups, a soft link.
- `datatypes.h5`: float64, big-endian float32/float64, float16, integer datasets, a scalar
  and an empty dataset, compact and chunked (plain, gzip+shuffle) layouts, datasets never
  written (with and without a fill value), numeric and string attributes of every shape
  h5py writes.
- `committed.h5`: a committed (named) datatype used by a dataset and by a group's attribute.
- `userblock.h5`: a file with a 512-byte user block (superblock not at offset 0).
- `latest.h5`: the same kind of content written with libver="latest" (superblock v3,
  version 2 object headers, link messages; a group with 20 links and an object with 20
  attributes, which are stored densely in fractal heaps).

and `expected.json`: every group (sorted members, attributes) and dataset (shape, dtype,
values) of every file, as h5py reads them. Strings longer than 4096 bytes are given as
their UTF-8 length and SHA-256.

Usage:

    python -m venv /tmp/h5venv && /tmp/h5venv/bin/pip install h5py numpy ml_dtypes
    /tmp/h5venv/bin/python scripts/hdf5_fixtures.py [OUTPUT]

Output depends only on this script (seeded values), h5py and the HDF5 library (h5py 3.16,
HDF5 2.0.0 wrote the files in the repository); it is deterministic: h5py's datasets
record no timestamps, and the one dataset made through the low-level API turns them off.
"""

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import h5py
import ml_dtypes
import numpy as np

RNG = np.random.default_rng(20240611)


def f32(*shape):
    return RNG.standard_normal(shape).astype("<f4")


def save_attributes(group, name, data):
    """keras' save_attributes_to_hdf5_group (without its 64 KiB chunking)."""
    group.attrs[name] = np.asarray(data)


def model_config(n_layers):
    layers = []
    for i in range(n_layers):
        layers.append(
            {
                "class_name": "Dense",
                "config": {
                    "name": f"dense_{i}",
                    "trainable": True,
                    "dtype": "float32",
                    "units": 5,
                    "activation": "relu",
                    "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                },
                "name": f"dense_{i}",
                "inbound_nodes": [[[f"dense_{i - 1}", 0, 0, {}]]],
            }
        )
    return {"class_name": "Functional", "config": {"name": "model", "layers": layers}}


def write_keras2(path):
    layers = {
        "input_1": [],
        "dense": [("dense/kernel:0", f32(7, 5)), ("dense/bias:0", f32(5))],
        "batch_normalization": [
            (f"batch_normalization/{n}:0", f32(5))
            for n in ("gamma", "beta", "moving_mean", "moving_variance")
        ],
        "dropout": [],
        "dense_1": [("dense_1/kernel:0", f32(5, 3)), ("dense_1/bias:0", f32(3))],
    }
    with h5py.File(path, "w") as f:
        # saving_utils.model_metadata: str values are stored as they are, dicts as JSON bytes.
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config(24)).encode("utf8")
        f.attrs["training_config"] = json.dumps(
            {"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
        ).encode("utf8")
        long_note = "".join(f"line {i}: é★ naïve café — {'x' * (i % 50)}\n" for i in range(1200))
        assert len(long_note.encode("utf8")) > 65536
        f.attrs["long_note"] = long_note

        g = f.create_group("model_weights")
        save_attributes(g, "layer_names", [name.encode("utf8") for name in layers])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.15.0"
        for name in sorted(layers):
            lg = g.create_group(name)
            save_attributes(lg, "weight_names", [w.encode("utf8") for w, _ in layers[name]])
            for w, value in layers[name]:
                ds = lg.create_dataset(w, value.shape, dtype=value.dtype)
                ds[:] = value

        o = f.create_group("optimizer_weights")
        names = [b"Adam/iter:0", b"Adam/dense/kernel/m:0", b"Adam/dense/kernel/v:0"]
        save_attributes(o, "weight_names", names)
        it = o.create_dataset("Adam/iter:0", (), dtype="<i8")
        it[()] = 120
        for n in names[1:]:
            ds = o.create_dataset(n.decode(), (7, 5), dtype="<f4")
            ds[:] = f32(7, 5)


def keras3_weights_bytes():
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        # keras.src.saving.saving_lib.H5IOStore / H5Entry
        for layer, values in (
            ("dense", [f32(4, 3), f32(3)]),
            ("dropout", []),
            ("dense_1", [f32(3, 2), f32(2)]),
            ("dense_bf16", [f32(2, 2).astype(ml_dtypes.bfloat16)]),
        ):
            vars_ = f.create_group(f"layers/{layer}").create_group("vars")
            for i, v in enumerate(values):
                ds = vars_.create_dataset(str(i), data=v)
                if v.dtype == ml_dtypes.bfloat16:
                    ds.attrs["dtype"] = "bfloat16"
        opt = f.create_group("optimizer").create_group("vars")
        opt.create_dataset("0", data=np.int64(7))
        opt.create_dataset("1", data=f32(4, 3))
    return buf.getvalue()


def write_keras3(out):
    data = keras3_weights_bytes()
    (out / "keras3_model.weights.h5").write_bytes(data)
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential"}}
    metadata = {"keras_version": "3.3.3", "date_saved": "2024-06-11@00:00:00"}
    with zipfile.ZipFile(out / "keras3_model.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, content in (
            ("metadata.json", json.dumps(metadata).encode()),
            ("config.json", json.dumps(config).encode()),
            ("model.weights.h5", data),
        ):
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 11, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, content)


def write_groups(path):
    with h5py.File(path, "w") as f:
        many = f.create_group("many")
        for i in range(40):
            many.create_dataset(f"item_{i:02d}", data=np.arange(i % 4 + 1, dtype="<f4") + i)
        target = f.create_dataset("target", data=np.array([1.5, -2.0, 3.25], dtype="<f4"))
        links = f.create_group("links")
        for i in range(300):
            links[f"link_{i:03d}"] = target
        f.create_group("empty")
        d = f.create_group("deep/a/b/c")
        d.create_dataset("leaf", data=np.array([[1, 2], [3, 4]], dtype="<f4"))
        d.attrs["depth"] = np.int32(4)
        f["soft"] = h5py.SoftLink("/deep/a/b/c/leaf")
        # keras' save_attributes_to_hdf5_group splits lists over 64 KiB into name0, name1, ...
        chunked = f.create_group("chunked_attr")
        chunked.attrs["weight_names0"] = np.array([b"w/a:0", b"w/b:0"])
        chunked.attrs["weight_names1"] = np.array([b"w/c:0"])


def write_datatypes(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("f64", data=RNG.standard_normal((3, 4)))
        f.create_dataset("f32_be", data=f32(2, 3).astype(">f4"))
        f.create_dataset("f64_be", data=RNG.standard_normal(5).astype(">f8"))
        f.create_dataset("f16", data=np.array([0.5, -1.25, 65504.0, 6.1035156e-05, 0.0], dtype="<f2"))
        f.create_dataset("i32", data=np.array([-3, 0, 7, 2**31 - 1], dtype="<i4"))
        f.create_dataset("u8", data=np.array([0, 1, 255], dtype="u1"))
        f.create_dataset("i64_be", data=np.array([-(2**40), 5], dtype=">i8"))
        f.create_dataset("scalar_f32", data=np.float32(2.5))
        f.create_dataset("empty_f32", data=np.zeros((0, 3), dtype="<f4"))
        f.create_dataset("unwritten_f32", shape=(2, 2), dtype="<f4")
        f.create_dataset("fill_f32", shape=(3,), dtype="<f4", fillvalue=1.5)
        f.create_dataset("chunked", data=f32(10, 6), chunks=(4, 4))
        f.create_dataset("chunked_gzip", data=f32(9, 7), chunks=(4, 3), compression="gzip", shuffle=True)
        # Compact layout: the raw data lives in the object header.
        space = h5py.h5s.create_simple((2, 3))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        dcpl.set_obj_track_times(False)
        dsid = h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([[1, 2, 3], [4, 5, 6]], dtype="<f4"))

        a = f.create_group("attrs").attrs
        a["vlen_str"] = "héllo"
        a["fixed_bytes"] = b"tensorflow"
        a["fixed_array"] = np.array([b"a", b"bc", b"def"])
        a["vlen_array"] = ["one", "two", "three"]
        a["f64_scalar"] = 0.125
        a["f32_array"] = np.array([1.5, -2.5], dtype="<f4")
        a["i64_scalar"] = 42
        a["i32_array"] = np.array([[1, 2], [3, 4]], dtype="<i4")
        a["u16_array"] = np.array([65535, 1], dtype="<u2")
        a["empty_f64"] = np.asarray([])
        a["f64_be"] = np.array([1.5, -0.25], dtype=">f8")
        a["i32_be"] = np.array([-7, 70000], dtype=">i4")
        a["f16_array"] = np.array([0.5, -2.0], dtype="<f2")
        a["flag"] = True


def write_committed(path):
    """A committed (named) datatype, used by a dataset and by an attribute of a group."""
    with h5py.File(path, "w") as f:
        f["named_f32"] = np.dtype("<f4")
        f.create_dataset("uses_named", data=np.array([9.0, 8.0], dtype="<f4"), dtype=f["named_f32"])
        f.create_dataset("plain", data=np.array([1.0], dtype="<f4"))
        g = f.create_group("with_attr")
        g.attrs.create("named_attr", np.array([1.0, 2.0], dtype="<f4"), dtype=f["named_f32"])


def write_userblock(path):
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("x", data=np.array([1.0, 2.0], dtype="<f4"))
        f.attrs["note"] = "after a user block"


def write_latest(path):
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(model_config(3)).encode("utf8")
        g = f.create_group("model_weights")
        save_attributes(g, "layer_names", [b"dense"])
        lg = g.create_group("dense")
        save_attributes(lg, "weight_names", [b"dense/kernel:0", b"dense/bias:0"])
        lg.create_dataset("dense/kernel:0", data=f32(4, 2))
        lg.create_dataset("dense/bias:0", data=f32(2))
        dense = f.create_group("dense_group")
        for i in range(20):
            dense.create_dataset(f"d{i:02d}", data=np.array([i], dtype="<f4"))
        for i in range(20):
            dense.attrs[f"a{i:02d}"] = i
        f.create_dataset("chunked", data=f32(10, 6), chunks=(4, 4))


def attr_json(value):
    """An attribute as the reader's AttrValue: string(s), float or int (flattened)."""
    if isinstance(value, str):
        return {"kind": "string", "value": text_json(value)}
    if isinstance(value, bytes):
        return {"kind": "string", "value": text_json(value.decode("utf8"))}
    arr = np.asarray(value)
    if arr.dtype.kind in "SO" or arr.dtype.kind == "U":
        items = [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in arr.ravel()]
        if arr.shape == ():
            return {"kind": "string", "value": text_json(items[0])}
        return {"kind": "strings", "value": [text_json(s) for s in items]}
    if arr.dtype.kind == "f":
        return {"kind": "float", "value": [float(v) for v in arr.ravel()]}
    if arr.dtype.kind in "iub":
        return {"kind": "int", "value": [int(v) for v in arr.ravel()]}
    raise ValueError(f"unexpected attribute {value!r}")


def text_json(s):
    raw = s.encode("utf8")
    if len(raw) > 4096:
        return {"len": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return s


def walk(f):
    objects = {}

    def visit(path, obj):
        attrs = {k: attr_json(obj.attrs[k]) for k in sorted(obj.attrs.keys())}
        if isinstance(obj, h5py.Group):
            objects[path] = {"type": "group", "members": sorted(obj.keys()), "attrs": attrs}
            for k in sorted(obj.keys()):
                if isinstance(obj.get(k, getlink=True), h5py.SoftLink):
                    objects[f"{path}/{k}".lstrip("/")] = {
                        "type": "soft_link",
                        "target": obj.get(k, getlink=True).path,
                    }
                    continue
                child = obj[k]
                if isinstance(child, h5py.Datatype):
                    objects[f"{path}/{k}".lstrip("/")] = {"type": "datatype"}
                    continue
                visit(f"{path}/{k}".lstrip("/"), child)
        else:
            data = obj[()]
            if obj.attrs.get("dtype") == "bfloat16":
                data = np.asarray(data).view(ml_dtypes.bfloat16).astype("<f8")
            objects[path] = {
                "type": "dataset",
                "shape": list(obj.shape),
                "dtype": obj.dtype.str,
                "values": [float(v) if np.asarray(data).dtype.kind == "f" else int(v) for v in np.ravel(data)],
                "attrs": attrs,
            }

    visit("", f)
    return objects


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/hdf5"
    out.mkdir(parents=True, exist_ok=True)
    write_keras2(out / "keras2_model.h5")
    write_keras3(out)
    write_groups(out / "groups.h5")
    write_datatypes(out / "datatypes.h5")
    write_committed(out / "committed.h5")
    write_userblock(out / "userblock.h5")
    write_latest(out / "latest.h5")
    expected = {}
    for name in ("keras2_model.h5", "keras3_model.weights.h5", "groups.h5", "datatypes.h5", "committed.h5", "userblock.h5", "latest.h5"):
        with h5py.File(out / name, "r") as f:
            expected[name] = walk(f)
    expected["_versions"] = {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    (out / "expected.json").write_text(json.dumps(expected, indent=0, sort_keys=True, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
