#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, fuzz/seeds/<target>/, from the repository's
test files (tests/data, tests/fixtures) with the Python standard library alone.

    python3 fuzz/make_seeds.py [--astronn BINARY]

Most seeds are small copies or cut-down versions of real files: apStar files reduced to one
to three rows of their flux, error and bitmask arrays (float32, or scaled 16- or 8-bit integers) in
both header styles (DR17 as SDSS-IV wrote it; DR19 with SDSS-V's keywords), catalogs as CSV
and as FITS binary tables, astroNN folders with their parameter JSON shortened (input_mean
rounded), `.npy` arrays in every supported dtype and order. With `--astronn` (a built astronn
binary: `cargo build --release` gives target/release/astronn) it also runs `predict` and
`normalize` with `--shard 0/1` on tests/data for real shard files (the merge and normalized
targets); without it those targets get the hand-made shards only. The output is
deterministic but for the seeds the binary makes (they record the run's time and version);
the directory of each target is emptied first.
"""

import argparse
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
FIXTURES = ROOT / "tests" / "fixtures"
SEEDS = ROOT / "fuzz" / "seeds"
SEPARATOR = b"\n==astronn-fuzz-next-file==\n"  # fuzz/src/lib.rs
BLOCK = 2880
PIXELS = 8575


# --- FITS, by hand ---------------------------------------------------------------------------


def card(key, value=None, comment=""):
    """One 80-character header card."""
    if value is None:
        return f"{key:<8}{comment}"[:80].ljust(80)
    if isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, str):
        text = f"'{value.replace(chr(39), chr(39) * 2):<8}'".ljust(20)
    elif isinstance(value, int):
        text = f"{value:>20}"
    else:
        text = f"{repr(float(value)).upper():>20}"
    body = f"{key:<8}= {text}"
    if comment:
        body += f" / {comment}"
    return body[:80].ljust(80)


def header_bytes(cards):
    text = "".join(c[:80].ljust(80) for c in cards) + "END".ljust(80)
    raw = text.encode("ascii")
    return raw + b" " * (-len(raw) % BLOCK)


def data_bytes(raw):
    return raw + b"\0" * (-len(raw) % BLOCK)


def read_hdus(path):
    """[(cards without END, data bytes)] of a FITS file."""
    raw = Path(path).read_bytes()
    pos, hdus = 0, []
    while pos < len(raw):
        cards = []
        while True:
            block = raw[pos : pos + BLOCK]
            pos += BLOCK
            ended = False
            for i in range(36):
                c = block[i * 80 : (i + 1) * 80].decode("ascii")
                if c.startswith("END     ") or c.rstrip() == "END":
                    ended = True
                    break
                cards.append(c)
            if ended:
                break
        values = {c[:8].strip(): c[10:].split("/")[0].strip() for c in cards if c[8:10] == "= "}
        naxis = int(values["NAXIS"])
        count = 0
        if naxis:
            count = 1
            for i in range(naxis):
                count *= int(values[f"NAXIS{i + 1}"])
        size = abs(int(values["BITPIX"])) // 8 * int(values.get("GCOUNT", "1")) * (
            int(values.get("PCOUNT", "0")) + count
        )
        hdus.append((cards, raw[pos : pos + size]))
        pos += size + (-size % BLOCK)
    return hdus


def key_of(c):
    return c[:8].strip()


def image_hdu(bitpix, rows, values, extname, extra=()):
    """An IMAGE extension of `rows` × 8575 values."""
    cards = [
        card("XTENSION", "IMAGE", "image extension"),
        card("BITPIX", bitpix),
        card("NAXIS", 2),
        card("NAXIS1", PIXELS),
        card("NAXIS2", rows),
        card("PCOUNT", 0),
        card("GCOUNT", 1),
        *extra,
        card("EXTNAME", extname),
    ]
    fmt = {-64: "d", -32: "f", 8: "B", 16: "h", 32: "i", 64: "q"}[bitpix]
    return header_bytes(cards) + data_bytes(struct.pack(f">{len(values)}{fmt}", *values))


def rows_of(data, bitpix, rows):
    fmt = {-64: "d", -32: "f", 16: "h", 32: "i", 64: "q"}[bitpix]
    count = rows * PIXELS
    return list(struct.unpack(f">{count}{fmt}", data[: count * abs(bitpix) // 8]))


def bintable(columns, rows, extname="TABLE", extra=()):
    """A BINTABLE extension: columns are (name, tform, unit, [values])."""
    widths = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "E": 4, "D": 8}
    row_bytes, forms = 0, []
    for name, tform, _, _ in columns:
        repeat = int(tform[:-1] or "1")
        code = tform[-1]
        width = repeat if code == "A" else repeat * widths[code]
        forms.append((code, repeat, width))
        row_bytes += width
    cards = [
        card("XTENSION", "BINTABLE", "binary table extension"),
        card("BITPIX", 8),
        card("NAXIS", 2),
        card("NAXIS1", row_bytes),
        card("NAXIS2", rows),
        card("PCOUNT", 0),
        card("GCOUNT", 1),
        card("TFIELDS", len(columns)),
    ]
    for i, (name, tform, unit, _) in enumerate(columns, 1):
        cards.append(card(f"TTYPE{i}", name))
        cards.append(card(f"TFORM{i}", tform))
        if unit:
            cards.append(card(f"TUNIT{i}", unit))
    cards += [*extra, card("EXTNAME", extname)]
    out = bytearray()
    for r in range(rows):
        for (code, repeat, width), (_, _, _, values) in zip(forms, columns):
            v = values[r]
            if code == "A":
                out += str(v).encode("ascii")[:width].ljust(width, b" ")
            elif code == "L":
                out += b"T" if v else b"F"
            else:
                fmt = {"B": "B", "I": "h", "J": "i", "K": "q", "E": "f", "D": "d"}[code]
                vals = v if isinstance(v, (list, tuple)) else [v]
                out += struct.pack(f">{repeat}{fmt}", *vals)
    return header_bytes(cards) + data_bytes(bytes(out))


def primary(cards=()):
    return header_bytes(
        [card("SIMPLE", True, "conforms to FITS standard"), card("BITPIX", 8), card("NAXIS", 0),
         card("EXTEND", True), *cards]
    )


# --- seeds -----------------------------------------------------------------------------------


def reset(target):
    d = SEEDS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def to_dr19(cards):
    """A DR17 primary header rewritten with SDSS-V's (DR19) keywords."""
    renamed = {"J": "JMAG", "H": "HMAG", "K": "KMAG", "J_ERR": "JERR", "H_ERR": "HERR",
               "K_ERR": "KERR", "VHELIO": "VRAD"}
    dropped = {"FIELD", "SFD_EBV", "VERR_MED", "RV_CHI2", "CCFWHM", "AUTOFWHM"}
    out = []
    for c in cards:
        key = key_of(c)
        if key in dropped:
            continue
        if key.startswith("VRAD") and key[4:].isdigit():  # DR17's relative velocity
            continue
        if key.startswith("VERR") and key[4:].isdigit():
            continue
        if key.startswith("VHELIO") and key[6:].isdigit():
            c = f"{'VRAD' + key[6:]:<8}" + c[8:]
        elif key in renamed:
            c = f"{renamed[key]:<8}" + c[8:]
        elif key.startswith("SFILE"):
            n = key[5:]
            c = card(key, f"apVisit-1.4-apo25m-{5000 + int(n)}-60{int(n):03d}-{100 + int(n)}.fits")
        out.append(c)
        if key == "OBJID":
            out += [card("APRED", "1.4", "reduction version"), card("CATID", 27021597917837494),
                    card("HEALPIX", 123456), card("PLX", 0.81), card("EPLX", 0.021),
                    card("PMRA", -3.2), card("EPMRA", 0.02), card("PMDEC", -5.1),
                    card("EPMDEC", 0.02), card("GMAG", 13.5), card("BPMAG", 99.99),
                    card("RPMAG", 12.9)]
        if key.startswith("FLAG") and key[4:].isdigit():
            out.append(card(f"CHISQ{key[4:]}", 1.25))
    return out


def apstar_seeds():
    d = reset("apstar")
    one = read_hdus(DATA / "apStar-dr17-2M19485057+5005279.fits")
    three = read_hdus(DATA / "apStar-dr17-2M17335483-2753043.fits")

    def arrays(hdus, rows, bitpix):
        """HDUs 1-3 (flux, error, bitmask) of `rows` rows: float32, or scaled integers of
        `bitpix` bits (16: signed; 8: unsigned bytes, 26 kB a row for all three arrays)."""
        flux = rows_of(hdus[1][1], -64, rows)
        err = rows_of(hdus[2][1], -64, rows)
        mask = rows_of(hdus[3][1], 64, rows)
        if bitpix == -32:
            return (image_hdu(-32, rows, flux, "FLUX") + image_hdu(-32, rows, err, "ERROR")
                    + image_hdu(32, rows, [m & 0x7FFFFFFF for m in mask], "MASK"))
        # Integers with BSCALE/BZERO (CFITSIO converts them back) and BLANK for NaN.
        lowest, highest, blank = (-32767, 32767, -32768) if bitpix == 16 else (1, 255, 0)

        def scale(values):
            # Values beyond 20 times the median magnitude (bad pixels' huge errors) become
            # BLANK (NaN), so that the others keep their precision.
            finite = sorted(abs(v) for v in values if v == v and abs(v) != float("inf"))
            limit = 20 * finite[len(finite) // 2]
            usable = lambda v: v == v and abs(v) <= limit
            lo = min(v for v in values if usable(v))
            hi = max(v for v in values if usable(v))
            bscale = (hi - lo) / (highest - lowest) or 1.0
            bzero = lo - lowest * bscale
            ints = [
                max(lowest, min(highest, round((v - bzero) / bscale))) if usable(v) else blank
                for v in values
            ]
            return ints, [card("BSCALE", bscale), card("BZERO", bzero), card("BLANK", blank)]

        f, fc = scale(flux)
        e, ec = scale(err)
        bits = 0x7FFF if bitpix == 16 else 0xFF
        return (image_hdu(bitpix, rows, f, "FLUX", fc) + image_hdu(bitpix, rows, e, "ERROR", ec)
                + image_hdu(bitpix, rows, [m & bits for m in mask], "MASK"))

    dr17_one = header_bytes(one[0][0]) + arrays(one, 1, -32)
    (d / "dr17-nvisits1.fits").write_bytes(dr17_one)
    (d / "dr17-nvisits1.fits.gz").write_bytes(gzip.compress(dr17_one, 9, mtime=0))
    (d / "dr17-nvisits3-8bit.fits").write_bytes(header_bytes(three[0][0]) + arrays(three, 3, 8))
    empty_image = header_bytes([card("XTENSION", "IMAGE"), card("BITPIX", 8), card("NAXIS", 0),
                                card("PCOUNT", 0), card("GCOUNT", 1)])
    (d / "dr19-nvisits1-8bit.fits").write_bytes(
        header_bytes(to_dr19(one[0][0])) + arrays(one, 1, 8) + empty_image)
    (d / "dr19-nvisits3-16bit.fits").write_bytes(
        header_bytes(to_dr19(three[0][0])) + arrays(three, 3, 16))


CATALOG_CSV = {
    "photometry.csv": "sdss4_apogee_id,ra,k_mag,ebv\n2M17335483-2753043,263.4,11.25,0.05\n"
                      "2M19485057+5005279,297.2,99.999,-9999\n",
    "photometry-allstar.csv": "# allStar names\nAPOGEE_ID,TELESCOPE,K,SFD_EBV\n"
                              "\"2M17335483-2753043\",apo25m,11.25,0.05\n2M1,lco25m,,--\n",
    "sources.csv": "# a DR19 Source cut\nsdss4_apogee_id,sdss_id,catalogid,gaia_dr3_source_id,lead,"
                   "ph_qual,k_mag,ebv,plx,e_plx,n_associated,sdss4_apogee_member_flags\n"
                   "2M17335483-2753043,85070001234567891,27021597917837494,4060784287612343296,"
                   "tic_v8,AAA,11.25,0.05,0.8,0.02,2,16\n2M00000000+0000000,1,2,3,x,BBB,10,0.1,1,0.1,1,0\n",
    "gaia.csv": "source_id,parallax,parallax_error,phot_g_mean_mag,nu_eff_used_in_astrometry,"
                "pseudocolour,ecl_lat,astrometric_params_solved\n"
                "4060784287612343296,0.81,0.021,13.5,1.45,,-4.4,31\n4057468321929794432,1,0.1,15,,1.5,3,95\n",
    "labels.csv": "APOGEE_ID,TEFF,TEFF_ERR,LOGG,LOGG_ERR,FE_H,FE_H_ERR,MG_FE,MG_FE_ERR,C_FE,CI_FE,"
                  "TIII_FE,ASPCAPFLAG\n2M17335483-2753043,4800,50,2.5,0.05,-0.1,0.01,0.2,0.02,0.1,"
                  "0.1,0.05,0\n\"2M19485057+5005279\",5226,-9999,5,,\"-0.22\",0.01,,,,,,8388608\n",
    "fakemag.csv": "APOGEE_ID,parallax,parallax_err,k_mag,ebv,VSCATTER,SNR,STARFLAG,K,SFD_EBV,"
                   "GAIAEDR3_PARALLAX,GAIAEDR3_PARALLAX_ERROR,GAIAEDR3_RUWE,"
                   "GAIAEDR3_IPD_FRAC_MULTI_PEAK,GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE\n"
                   "2M17335483-2753043,0.8,0.02,11.25,0.05,0.1,300,0,11.25,0.05,0.8,0.02,1.1,0,0.01\n"
                   "\"quoted, \"\"id\"\"\",1,0.1,9,0.1,0.1,300,0,9,0.1,1,0.02,1.39,2,0.099\n",
}


def catalog_seeds():
    d = reset("catalogs")
    for name, text in CATALOG_CSV.items():
        (d / name).write_bytes(text.encode())
    ids = ["2M17335483-2753043", "2M19485057+5005279"]
    labels = [
        ("APOGEE_ID", "18A", "", ids),
        ("TEFF", "E", "K", [4800.0, 5226.0]),
        ("TEFF_ERR", "E", "K", [50.0, -9999.0]),
        ("LOGG", "E", "", [2.5, 5.0]),
        ("FE_H", "D", "", [-0.1, float("nan")]),
        ("MG_FE", "E", "", [0.2, 0.1]),
        ("ASPCAPFLAG", "K", "", [0, 8388608]),
        ("STARFLAG", "J", "", [0, 4]),
        ("SNR", "E", "", [300.0, 137.5]),
        ("VSCATTER", "E", "", [0.1, 0.0]),
        ("K", "E", "", [11.25, 10.52]),
        ("SFD_EBV", "E", "", [0.05, 0.19]),
        ("parallax", "D", "", [0.8, 1.0]),
        ("parallax_err", "D", "", [0.02, 0.1]),
        ("k_mag", "E", "", [11.25, 10.52]),
        ("ebv", "E", "", [0.05, 0.19]),
    ]
    (d / "labels.fits").write_bytes(primary() + bintable(labels, 2, "ALLSTAR"))
    sources = [
        ("sdss4_apogee_id", "18A", "", ids),
        ("sdss_id", "K", "", [85070001234567891, 2]),
        ("catalogid", "K", "", [27021597917837494, 3]),
        ("gaia_dr3_source_id", "K", "", [4060784287612343296, 4]),
        ("ph_qual", "3A", "", ["AAA", "BBB"]),
        ("k_mag", "E", "", [11.25, 99.999]),
        ("ebv", "E", "", [0.05, 0.1]),
        ("plx", "E", "", [0.8, 1.0]),
        ("n_associated", "I", "", [2, 1]),
        ("sdss4_apogee_member_flags", "K", "", [16, 0]),
        ("flag", "L", "", [True, False]),
    ]
    # An empty first table: the reader takes the first table with rows.
    empty = bintable([("sdss4_apogee_id", "18A", "", [])], 0, "EMPTY")
    (d / "sources.fits").write_bytes(primary() + empty + bintable(sources, 2, "SOURCES"))
    gaia = [
        ("source_id", "K", "", [4060784287612343296, 4057468321929794432]),
        ("parallax", "D", "mas", [0.81, 1.0]),
        ("parallax_error", "E", "mas", [0.021, 0.1]),
        ("phot_g_mean_mag", "E", "mag", [13.5, 15.0]),
        ("nu_eff_used_in_astrometry", "E", "", [1.45, float("nan")]),
        ("pseudocolour", "E", "", [float("nan"), 1.5]),
        ("ecl_lat", "D", "deg", [-4.4, 3.0]),
        ("astrometric_params_solved", "B", "", [31, 95]),
    ]
    (d / "gaia.fits").write_bytes(primary() + bintable(gaia, 2, "GAIA"))
    raw = primary() + bintable(labels, 2, "ALLSTAR")
    (d / "labels.fits.gz").write_bytes(gzip.compress(raw, 9, mtime=0))
    # The Gaia zero-point grid's first lines (a CSV with many columns).
    grid = (DATA / "gaia_zeropoint_grid.csv").read_text().splitlines()[:6]
    (d / "zeropoint-grid-head.csv").write_text("\n".join(grid) + "\n")


def binary_seeds(astronn):
    merge, normalized = reset("merge"), reset("normalized")
    # A hand-made shard: SHARD/NSHARDS in the primary header, one table of two rows.
    identity = [card("PIPELINE", "astronn"), card("SEED", 7), card("MC", 4), card("NINPUTS", 2),
                card("NSHARDS", 1), card("SHARD", 0), card("SHINPUTS", 2), card("NSPECTRA", 2),
                card("NNORESLT", 0), card("ELAPSED", 1.5)]
    table = bintable([("sdss4_apogee_id", "18A", "", ["2M17335483-2753043", "2M19485057+5005279"]),
                      ("teff", "E", "K", [4800.0, 5226.0]), ("result_flags", "J", "", [0, 1])],
                     2, "APOGEE/APO25M")
    (merge / "hand-made-shard.fits").write_bytes(primary(identity) + table)
    if astronn is None:
        print("note: no --astronn binary: no real shard, normalized or converted model seeds",
              file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = [str(DATA / "apStar-dr17-2M19485057+5005279.fits")]
        run = lambda *args: subprocess.run([astronn, *args], check=True, capture_output=True)
        run("predict", "-q", "--mc", "2", "--seed", "1", "--shard", "0/1", "-o",
            str(tmp / "star.fits"), "--visits-output", str(tmp / "visit.fits"), "--dist-output",
            str(tmp / "dist.fits"), *inputs)
        run("normalize", "-q", "--shard", "0/1", "-o", str(tmp / "normalized.fits"), *inputs)
        for name in ["star", "visit", "dist"]:
            shutil.copy(tmp / f"{name}.fits", merge / f"predict-{name}-shard.fits")
        shutil.copy(tmp / "normalized.fits", merge / "normalize-shard.fits")
        run("normalize", "-q", "-o", str(tmp / "normalized-whole.fits"), *inputs)
        shutil.copy(tmp / "normalized-whole.fits", normalized / "normalized.fits")
        shutil.copy(tmp / "normalized.fits", normalized / "normalized-shard.fits")
        # A complete AstroNNDist model in our safetensors format (the small astroNN folder's).
        run("convert", str(DATA / "astronn_models" / "dist_dict"), "-o", str(tmp / "dist.safetensors"))
        shutil.copy(tmp / "dist.safetensors", SEEDS / "model_file" / "dist_dict.safetensors")


def model_seeds():
    d = reset("model_file")
    for f in sorted((DATA / "models").glob("*.pt")):
        shutil.copy(f, d / f.name)
    # The small checkpoint with its records deflated (torch.save stores them; a reader must
    # bound what a compressed record inflates to).
    buffer = io.BytesIO()
    with zipfile.ZipFile(DATA / "models" / "small_checkpoint.pt") as z, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            copy.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(copy, z.read(info))
    (d / "small_checkpoint-deflated.pt").write_bytes(buffer.getvalue())
    # A small safetensors file in our format (header JSON with metadata, two tensors).
    tensors = {"dense_output.weight": ("F32", [1, 2], struct.pack("<2f", 0.5, -1.0)),
               "dense_var.bias": ("F64", [1], struct.pack("<d", 0.25))}
    header, body, offset = {"__metadata__": {"format": "astronn-model", "kind": "astronn_dist"}}, b"", 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        body += raw
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    (d / "small.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + body)

    p = reset("pickle")
    for f in sorted((DATA / "models").glob("*.pkl")):
        shutil.copy(f, p / f.name)
    for f in sorted((DATA / "models").glob("*.pt")):
        with zipfile.ZipFile(f) as z:
            for name in z.namelist():
                if name.endswith("data.pkl"):
                    (p / f"{f.stem}-data.pkl").write_bytes(z.read(name))
    # Protocol 0 and 1 pickles, by hand: a dict of a list, a tuple and text.
    (p / "protocol0.pkl").write_bytes(b"(dp0\nVteff\np1\n(lp2\nF1.5\naI3\naI01\nas(I1\nI2\ntp3\nS'x'\ns.")
    (p / "protocol1.pkl").write_bytes(b"}q\x00(X\x04\x00\x00\x00teffq\x01G?\xf8\x00\x00\x00\x00\x00\x00"
                                      b"X\x01\x00\x00\x00kq\x02]q\x03(K\x01M\x00\x01J\xff\xff\xff\xffeu.")

    n = reset("noise_model")
    for f in sorted((DATA / "models").glob("noise_model*")):
        shutil.copy(f, n / f.name)
    shutil.copy(ROOT / "models" / "noise_model_default.json", n / "noise_model_default.json")


def folder_seeds():
    d = reset("astronn_folder")
    models = DATA / "astronn_models"

    def short_json(path):
        params = json.loads(path.read_text())
        for key in ("input_mean", "input_std"):
            if isinstance(params.get(key), list) and len(params[key]) > 16:
                params[key] = [round(v, 3) for v in params[key]]
        return json.dumps(params, separators=(",", ":")).encode()

    for name in ["censored_list", "dist_dict", "dist_list_mode0"]:
        folder = models / name
        (d / name).write_bytes(short_json(folder / "astroNN_model_parameter.json") + SEPARATOR
                               + (folder / "model_weights.h5").read_bytes())
    # Keras 3: the censored folder's parameters and .keras configuration, with the small
    # weights file of tests/data/hdf5 in place of its 1.5 MB one (deflated archive).
    with zipfile.ZipFile(models / "censored_keras3" / "model_weights.keras") as z:
        metadata, config = z.read("metadata.json"), z.read("config.json")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in [("metadata.json", metadata), ("config.json", config),
                          ("model.weights.h5", (DATA / "hdf5" / "keras3_model.weights.h5").read_bytes())]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, raw)
    (d / "censored_keras3").write_bytes(
        short_json(models / "censored_keras3" / "astroNN_model_parameter.json") + SEPARATOR
        + buffer.getvalue())

    h = reset("hdf5")
    for f in sorted((DATA / "hdf5").glob("*.h5")):
        shutil.copy(f, h / f.name)


def npy_header(descr, shape, fortran=False, version=1):
    shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    prefix = 10 if version == 1 else 12
    text += " " * (-(prefix + len(text) + 1) % 64) + "\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text.encode("latin1" if version < 3 else "utf8")


def npy_seeds():
    d = reset("npy")
    for f in ["dist_det_fakemag.npy", "bcnn_det_pred.npy"]:
        shutil.copy(FIXTURES / f, d / f)
    values = [1.0, -2.5, 0.0, 3.25, 1e300, -0.0]
    for descr, fmt in [("<f4", "<6f"), (">f8", ">6d"), ("<i8", "<6q"), ("|u1", "6B"), ("<i2", "<6h"),
                       (">u4", ">6I"), ("|b1", "6?")]:
        if fmt[-1] in "qBhI?":
            data = struct.pack(fmt, *[int(abs(v)) % 200 for v in values])
        else:
            data = struct.pack(fmt, *[v if fmt[-1] == "d" else max(min(v, 3e38), -3e38) for v in values])
        name = descr.replace("<", "le-").replace(">", "be-").replace("|", "")
        (d / f"{name}.npy").write_bytes(npy_header(descr, (2, 3)) + data)
    (d / "fortran.npy").write_bytes(npy_header("<f8", (3, 2), fortran=True) + struct.pack("<6d", *values))
    (d / "version2-1d.npy").write_bytes(npy_header("<f8", (6,), version=2) + struct.pack("<6d", *values))
    (d / "version3-3d.npy").write_bytes(npy_header("<f4", (1, 2, 3), version=3) + struct.pack("<6f", *values[:3], 1, 2, 3))
    (d / "scalar.npy").write_bytes(npy_header("<f8", ()) + struct.pack("<d", 7.0))


def where_seeds():
    d = reset("where")
    expressions = [
        "SNR > 200", "VSCATTER < 1 && SNR > 200 || STARFLAG == 0",
        "!ASPCAPFLAG[STAR_BAD] && ASPCAPFLAG[23] == 0", "finite(K) && K > -1 && K < 98",
        "abs(TEFF - 4800) <= 1e3 * 0.5 / 2", "-(LOGG) != +3.5e-1", "!STARFLAG",
        "((GAIAEDR3_RUWE > 0) && (GAIAEDR3_RUWE < 1.4))", "ANDFLAG[PERSIST_HIGH] == 0",
        "SFD_EBV >= 0.0 && SFD_EBV < 98 || !finite(SFD_EBV)",
    ]
    for i, text in enumerate(expressions):
        (d / f"expr{i:02d}").write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--astronn", help="an astronn binary, for real shard and normalized files")
    args = parser.parse_args()
    apstar_seeds()
    catalog_seeds()
    model_seeds()
    folder_seeds()
    npy_seeds()
    where_seeds()
    binary_seeds(args.astronn)
    total = sum(f.stat().st_size for f in SEEDS.rglob("*") if f.is_file())
    for d in sorted(SEEDS.iterdir()):
        files = [f for f in d.iterdir() if f.is_file()]
        print(f"{d.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files):,} bytes")
    print(f"total: {total:,} bytes")


if __name__ == "__main__":
    main()
