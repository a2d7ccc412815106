"""Ctrl-C in a notebook: a long call raises KeyboardInterrupt within a second and leaves no
output behind, and the next call runs as usual."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

#: A child process that starts a long call, says when it has begun, and on KeyboardInterrupt
#: prints the time it caught it.
CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    import numpy as np
    import astronn
    warnings.simplefilter("ignore")
    what, data = sys.argv[1], sys.argv[2]
    model = astronn.load_model()
    model.predict(np.ones((1, 7514)), normalized=True, mc=2)   # loaded and warm
    print("begun", flush=True)
    try:
        if what == "predict_files":
            astronn.predict_files(data, mc=100, visits=True, distances=True, output_dir=sys.argv[3])
        elif what == "predict":
            model.predict(np.ones((3000, 7514)), normalized=True, mc=100)
        elif what == "jacobian":
            model.jacobian(np.ones((2000, 7514)), mc=20)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.time()}", flush=True)
        out = model.predict(np.ones((1, 7514)), normalized=True, mc=2)   # the session goes on
        print(f"next call {out['teff'][0]:.1f}", flush=True)
    """
)


@pytest.fixture(scope="module")
def many_files(tmp_path_factory, apstar_dir):
    """4,000 links to the apStar files of tests/data: minutes of work at mc = 100."""
    directory = tmp_path_factory.mktemp("many")
    for path in sorted(apstar_dir.glob("apStar-*.fits")):
        for copy in range(2000):
            os.symlink(path, directory / f"apStar-{copy:04d}-{path.name[7:]}")
    return directory


@pytest.mark.parametrize("what", ["predict_files", "predict", "jacobian"])
def test_ctrl_c_raises_keyboard_interrupt_within_a_second(what, many_files, tmp_path):
    output = tmp_path / "tables"
    output.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, what, str(many_files), str(output)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "begun"
    time.sleep(1.0)
    assert child.poll() is None, "the call ended before it could be interrupted"
    sent = time.time()
    child.send_signal(signal.SIGINT)
    lines = child.communicate(timeout=60)[0].split("\n")
    assert lines[0].startswith("interrupted"), lines
    assert float(lines[0].split()[1]) - sent < 1.0, f"KeyboardInterrupt {float(lines[0].split()[1]) - sent:.2f} s after SIGINT"
    assert lines[1].startswith("next call"), lines
    assert child.returncode == 0
    assert os.listdir(output) == [], "no table, no temporary file"
