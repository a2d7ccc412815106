"""An earlier table is never silently replaced: predict_files refuses an existing one in
output_dir (FileExistsError, before any work) unless overwrite=True."""

import pytest

import astronn

pytestmark = pytest.mark.filterwarnings("ignore:using the embedded default:astronn.AstroNNWarning")


def test_an_existing_table_is_refused_unless_overwrite(apstar_dir, tmp_path):
    star = apstar_dir / "apStar-dr17-2M17335483-2753043.fits"
    table = tmp_path / astronn.TABLE_FILES["coadds"]
    table.write_bytes(b"yesterday's run")
    with pytest.raises(FileExistsError, match="astraAllStarAstroNN.fits.*overwrite"):
        astronn.predict_files(star, mc=0, output_dir=tmp_path)
    assert table.read_bytes() == b"yesterday's run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [table.name]
    coadds, _, _ = astronn.predict_files(star, mc=0, output_dir=tmp_path, overwrite=True)
    assert len(coadds) == 1 and table.read_bytes().startswith(b"SIMPLE  =")
