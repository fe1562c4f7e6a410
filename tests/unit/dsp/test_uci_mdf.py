"""Issue #2 acceptance on real sEMG: the UCI lower-limb recordings (Sanchez & Sotelo 2014,
CC BY 4.0; see tests/data/uci_emg_lower_limb/README.md).

Per file, the median MDF of the active windows of biceps femoris and semitendinosus must lie in
30–130 Hz (the usual sEMG range; the provenance notes measured 31–117 Hz for every window).
The chain is the project's own: EmgProcessor with the 60 Hz notch (Colombian mains) and a rest
level taken, as a calibration would, from the quietest windows (10th percentile of the window
RMS): these trials have no standing-still period.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.importers.uci import load_uci_trial
from sensor_pipeline.config import load_config
from sensor_pipeline.dsp.emg import EmgProcessor
from sensor_pipeline.model import SampleBlock, StreamInfo

HAMSTRINGS = ("biceps_femoris", "semitendinosus")
MIN_ACTIVE_WINDOWS = 5


def active_window_mdf(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    trial = load_uci_trial(path)
    cfg = load_config(None, ["emg.notch-hz=60"]).emg
    info = StreamInfo("emg", HAMSTRINGS, ("mV", "mV"), trial.fs_hz)
    hop = round(0.25 * trial.fs_hz)
    data = np.vstack([getattr(trial, c) for c in HAMSTRINGS])
    block = SampleBlock("emg", HAMSTRINGS, ("mV", "mV"), trial.fs_hz, 0, 0, data)
    first = EmgProcessor(cfg, info, hop).process(block)
    rms = np.array([w.rms_mv for w in first if np.all(np.isfinite(w.rms_mv))])
    proc = EmgProcessor(cfg, info, hop)
    proc.set_rest_rms(np.percentile(rms, 10, axis=0))
    mdf = np.array([w.mdf_hz for w in proc.process(block)])
    return trial.task, {c: mdf[:, i][np.isfinite(mdf[:, i])] for i, c in enumerate(HAMSTRINGS)}


def check_file(path: Path) -> int:
    task, by_channel = active_window_mdf(path)
    checked = 0
    for channel, values in by_channel.items():
        if values.size < MIN_ACTIVE_WINDOWS:
            # Seated knee extension works the quadriceps; a silent hamstring has no MDF.
            assert task != "pie", f"{path.name}: {channel} never active in standing flexion"
            continue
        median = float(np.median(values))
        assert 30.0 <= median <= 130.0, f"{path.name} {channel}: median MDF {median:.1f} Hz"
        checked += 1
    return checked


@pytest.mark.parametrize("name", ["N_TXT/3Npie.txt", "A_TXT/10Apie.txt"])
def test_shipped_trials_have_physiological_mdf(test_data: Path, name: str) -> None:
    assert check_file(test_data / "uci_emg_lower_limb" / name) == 2


def test_every_shared_trial_has_physiological_mdf(shared_data: Path) -> None:
    files = sorted((shared_data / "uci_emg_lower_limb").glob("*_TXT/*.txt"))
    assert len(files) >= 30
    checked = sum(check_file(f) for f in files)
    assert checked >= 50  # most of the 2 × 33 channel-files have active windows
