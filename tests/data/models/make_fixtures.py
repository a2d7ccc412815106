#!/usr/bin/env python3
"""Builds the small model test files in this directory, without PyTorch.

    python3 make_fixtures.py                       # torch checkpoints (stdlib only)
    /path/to/venv-with-numpy/bin/python make_fixtures.py --noise   # noise-model pickles too
    python3 make_fixtures.py --check-against some_real_checkpoint.pt

Checkpoints: `torch.save` writes a zip archive (entries `<name>/data.pkl`,
`<name>/.format_version`, `<name>/.storage_alignment`, `<name>/byteorder`,
`<name>/data/<key>`, `<name>/version`, `<name>/.data/serialization_id`, stored
uncompressed, each local header padded with an `FB` extra field so that the data starts on
a 64-byte boundary, sizes in data descriptors, zip64 end records). The pickle (protocol 2)
refers to tensors as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, OrderedDict())` with storages as persistent ids `('storage',
torch.FloatStorage, key, 'cpu', numel)`. This script reproduces both with the stdlib:
stand-in `torch` modules whose globals pickle under torch's names, a Pickler whose
`persistent_id` emits torch's tuples, and a zip writer that lays records out as torch's
PyTorchStreamWriter does. `--check-against FILE.pt` rewrites a real checkpoint's records with
that writer and checks that the result is byte-identical to FILE.pt.

Noise models (`--noise`, needs numpy): Astra's format, a pickle of `(corrections,
reference)`; `reference` holds numpy arrays, dtypes and scalars that a reader must skip.
"""

import collections
import io
import json
import os
import pickle
import struct
import sys
import types
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------- fake torch


def _install_fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    torch._utils = utils
    sys.modules["torch"] = torch
    sys.modules["torch._utils"] = utils

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called")

    def _rebuild_parameter(*args):
        raise RuntimeError("never called")

    for fn in (_rebuild_tensor_v2, _rebuild_parameter):
        fn.__module__ = "torch._utils"
        fn.__qualname__ = fn.__name__
        setattr(utils, fn.__name__, fn)

    storage_types = {}
    for name, fmt in [
        ("FloatStorage", "<f"),
        ("DoubleStorage", "<d"),
        ("HalfStorage", "<e"),
        ("BFloat16Storage", None),
        ("BoolStorage", "<?"),
        ("ByteStorage", "<B"),
        ("CharStorage", "<b"),
        ("ShortStorage", "<h"),
        ("IntStorage", "<i"),
        ("LongStorage", "<q"),
    ]:
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
        storage_types[name] = (cls, fmt)
    return utils, storage_types


UTILS, STORAGE_TYPES = _install_fake_torch()


def _bf16_bytes(values, byteorder):
    out = b""
    for v in values:
        bits = struct.unpack("<I", struct.pack("<f", v))[0]
        assert bits & 0xFFFF == 0, "bf16 test values must be exact"
        out += struct.pack(byteorder + "H", bits >> 16)
    return out


class Storage:
    """A typed storage: its torch type name and its elements."""

    def __init__(self, type_name, values):
        self.type_name = type_name
        self.values = list(values)

    def data(self, byteorder="<"):
        cls, fmt = STORAGE_TYPES[self.type_name]
        if fmt is None:
            return _bf16_bytes(self.values, byteorder)
        return b"".join(struct.pack(byteorder + fmt[1], v) for v in self.values)


class Tensor:
    """A view of a storage, pickled as torch pickles a tensor."""

    def __init__(self, storage, size, stride=None, offset=0, requires_grad=False):
        if stride is None:  # contiguous
            stride, acc = [], 1
            for n in reversed(size):
                stride.insert(0, acc)
                acc *= n
        self.storage, self.size, self.stride, self.offset = storage, tuple(size), tuple(stride), offset
        self.requires_grad = requires_grad

    def __reduce_ex__(self, protocol):
        return (
            UTILS._rebuild_tensor_v2,
            (self.storage, self.offset, self.size, self.stride, self.requires_grad, collections.OrderedDict()),
        )


class Parameter:
    """`torch.nn.Parameter`, pickled through `torch._utils._rebuild_parameter`."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce_ex__(self, protocol):
        return (UTILS._rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    """Emits torch's persistent ids for storages, keyed in order of first appearance."""

    def __init__(self, f):
        super().__init__(f, protocol=2)
        self.keys = {}  # id(storage) -> key
        self.storages = []

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            key = self.keys.get(id(obj))
            if key is None:
                key = str(len(self.keys))
                self.keys[id(obj)] = key
                self.storages.append((key, obj))
            cls, _ = STORAGE_TYPES[obj.type_name]
            return ("storage", cls, key, "cpu", len(obj.values))
        return None


# --------------------------------------------------------------------------- zip writer


def torch_zip(records):
    """A zip archive laid out as torch's PyTorchStreamWriter (miniz) writes it."""
    out = bytearray()
    central = []
    for name, data in records:
        name_b = name.encode()
        offset = len(out)
        start = offset + 30 + len(name_b) + 4
        pad = (64 - start % 64) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        crc = zlib.crc32(data) & 0xFFFFFFFF
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x0808, 0, 0, 0, 0, 0, 0, len(name_b), len(extra))
        out += name_b + extra + data
        out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        central.append((name_b, crc, len(data), offset))
    cd_offset = len(out)
    for name_b, crc, size, offset in central:
        out += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x0808, 0, 0, 0, crc, size, size, len(name_b), 0, 0, 0, 0, 0, offset
        )
        out += name_b
    cd_size = len(out) - cd_offset
    zip64_offset = len(out)
    n = len(central)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, n, n, cd_size, cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0)
    return bytes(out)


SERIALIZATION_ID = b"1234567890123456789012345678901234567890"


def torch_save(obj, path, archive, byteorder="little", pickle_bytes=None):
    """`torch.save(obj, path)` for objects made of dicts, lists, Tensors and Parameters."""
    f = io.BytesIO()
    pickler = TorchPickler(f)
    pickler.dump(obj)
    data_pkl = pickle_bytes if pickle_bytes is not None else f.getvalue()
    order = "<" if byteorder == "little" else ">"
    records = [
        (f"{archive}/data.pkl", data_pkl),
        (f"{archive}/.format_version", b"1"),
        (f"{archive}/.storage_alignment", b"64"),
        (f"{archive}/byteorder", byteorder.encode()),
    ]
    records += [(f"{archive}/data/{key}", s.data(order)) for key, s in pickler.storages]
    records += [(f"{archive}/version", b"3\n"), (f"{archive}/.data/serialization_id", SERIALIZATION_ID)]
    with open(path, "wb") as out:
        out.write(torch_zip(records))


def check_against(path):
    """Rewrites the records of a real checkpoint and compares the bytes."""
    import zipfile

    original = open(path, "rb").read()
    with zipfile.ZipFile(path) as z:
        records = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    rebuilt = torch_zip(records)
    if rebuilt != original:
        diff = next(i for i, (a, b) in enumerate(zip(rebuilt, original)) if a != b) if len(rebuilt) == len(original) else "length"
        sys.exit(f"{path}: rebuilt archive differs (first difference at {diff})")
    print(f"{path}: rebuilt archive is byte-identical ({len(original)} bytes)")


# --------------------------------------------------------------------------- checkpoints


def with_metadata(od, modules):
    """Attaches `_metadata` as `Module.state_dict()` does (pickled through BUILD)."""
    od._metadata = collections.OrderedDict((m, {"version": 1}) for m in modules)
    return od


def make_checkpoints():
    # Astra's format, with an optimizer state: {"epoch", "model_state_dict", "optimizer_state_dict"}.
    w = Storage("FloatStorage", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = Storage("FloatStorage", [0.5, -0.5])
    stats = Storage("DoubleStorage", [10.0, 11.0, 12.0, 13.0, 14.0])
    mask = Storage("BoolStorage", [True, False, True, True, False])
    model = with_metadata(
        collections.OrderedDict(
            [
                ("layer.weight", Tensor(w, [2, 3])),  # [[1,2,3],[4,5,6]]
                ("layer.bias", Tensor(b, [2])),
                ("layer_t.weight", Tensor(w, [3, 2], stride=[1, 3])),  # transposed view of w
                ("mean", Tensor(stats, [3])),  # [10,11,12]
                ("tail", Tensor(stats, [2], offset=3)),  # [13,14]
                ("window", Tensor(stats, [2, 2], stride=[2, 1], offset=1)),  # [[11,12],[13,14]]
                ("mask", Tensor(mask, [5])),
            ]
        ),
        ["", "layer", "layer_t"],
    )
    optimizer = {
        "state": {
            0: {
                "step": Tensor(Storage("FloatStorage", [7.0]), []),
                "exp_avg": Tensor(Storage("FloatStorage", [0.1] * 6), [2, 3]),
                "exp_avg_sq": Tensor(Storage("FloatStorage", [0.2] * 6), [2, 3]),
            },
            1: {
                "step": Tensor(Storage("FloatStorage", [7.0]), []),
                "exp_avg": Tensor(Storage("FloatStorage", [0.3, 0.4]), [2]),
                "exp_avg_sq": Tensor(Storage("FloatStorage", [0.5, 0.6]), [2]),
            },
        },
        "param_groups": [
            {
                "lr": 0.0005,
                "betas": (0.9, 0.999),
                "eps": 1e-08,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": None,
                "params": [0, 1],
            }
        ],
    }
    torch_save(
        {"epoch": 3, "model_state_dict": model, "optimizer_state_dict": optimizer},
        os.path.join(HERE, "small_checkpoint.pt"),
        "small_checkpoint",
    )

    # A bare state dict (`torch.save(model.state_dict())`) with the other storage types.
    def bare_state_dict():
        return with_metadata(
            collections.OrderedDict(
                [
                    ("half", Tensor(Storage("HalfStorage", [1.5, -2.0, 0.25]), [3])),
                    ("bf16", Tensor(Storage("BFloat16Storage", [1.5, -2.0, 0.25]), [3])),
                    ("long", Tensor(Storage("LongStorage", [-(2**40), 1, 2, 3]), [2, 2])),
                    ("int", Tensor(Storage("IntStorage", [-7, 8, 9]), [3])),
                    ("short", Tensor(Storage("ShortStorage", [-300, 300]), [2])),
                    ("char", Tensor(Storage("CharStorage", [-3, 4]), [2])),
                    ("byte", Tensor(Storage("ByteStorage", [0, 255, 7]), [3])),
                    ("bn.num_batches_tracked", Tensor(Storage("LongStorage", [42]), [])),
                    ("param", Parameter(Tensor(Storage("FloatStorage", [9.0, 8.0]), [2]))),
                    ("empty", Tensor(Storage("FloatStorage", []), [0, 3])),
                    # A column of a 3x2 row-major storage: offset 1, stride 2.
                    ("column", Tensor(Storage("DoubleStorage", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), [3], stride=[2], offset=1)),
                ]
            ),
            ["", "bn"],
        )

    torch_save(bare_state_dict(), os.path.join(HERE, "state_dict.pt"), "archive")
    # The same, written big-endian (as torch does on big-endian machines).
    torch_save(bare_state_dict(), os.path.join(HERE, "state_dict_big_endian.pt"), "archive", byteorder="big")
    # Neither a model_state_dict entry nor a state dict.
    torch_save({"epoch": 3, "weights": [1, 2]}, os.path.join(HERE, "no_state_dict.pt"), "no_state_dict")


# --------------------------------------------------------------------------- noise models

NOISE_CORRECTIONS = {
    "teff": {"offset": 10.0, "scale": 1.2},
    "logg": {"offset": 0.01, "scale": 1.5},
    "fe_h": {"offset": 0, "scale": 2},  # Python ints
}


def make_noise():
    import numpy as np

    corrections = dict(NOISE_CORRECTIONS)
    # numpy float64 scalars (pickled through numpy's multiarray.scalar).
    corrections["c_h"] = {"offset": np.float64(0.02), "scale": np.float64(1.1)}
    corrections["mg_h"] = {"offset": np.float32(0.5), "scale": np.int64(3)}
    reference = {
        "labels": np.array(["teff", "logg"]),
        "raw_e": np.linspace(0.0, 1.0, 5),
        "grid": np.arange(6, dtype=np.int32).reshape(2, 3),
        "dtype": np.dtype("float32"),
        "scalar": np.float64(3.5),
        "record": np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
        "nested": [np.float32(1.0), (np.bool_(True), None)],
    }
    version = np.__version__.split(".")[0]
    for protocol in (2, 4):
        name = f"noise_model_numpy{version}_protocol{protocol}.pkl"
        with open(os.path.join(HERE, name), "wb") as f:
            pickle.dump((corrections, reference), f, protocol=protocol)
    print(f"noise pickles written with numpy {np.__version__}")


def make_noise_json():
    with open(os.path.join(HERE, "noise_model.json"), "w") as f:
        json.dump(NOISE_CORRECTIONS, f, indent=2)
        f.write("\n")
    # An invalid one: non-finite scale (pickled, since JSON cannot hold NaN).
    with open(os.path.join(HERE, "noise_model_nan.pkl"), "wb") as f:
        pickle.dump(({"teff": {"offset": 1.0, "scale": float("nan")}}, None), f, protocol=2)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--check-against"]:
        for path in args[1:]:
            check_against(path)
    elif args[:1] == ["--noise"]:
        make_noise()
    else:
        make_checkpoints()
        make_noise_json()
