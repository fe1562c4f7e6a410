"""Loader for the UCI "EMG dataset in Lower Limb" TXT exports (Sanchez & Sotelo 2014).

Sanchez, O. & Sotelo, J. (2014). *EMG dataset in Lower Limb* [Dataset]. UCI Machine Learning
Repository, id 278. https://doi.org/10.24432/C5ZW3P. Licence CC BY 4.0 (attribution required).

Each file (``<subject><N|A><task>.txt``, task ``mar`` gait, ``pie`` standing knee flexion,
``sen`` sitting knee extension) is a Biometrics DataLOG export: Latin-1 text, CRLF line ends,
TAB-separated, no time column, 1000 Hz. A header (``File Name: …``, one ``Channel k: '<name>', N
values, engineering units: mV|deg, …`` line per channel, sometimes ``Digitals combined …``), a
blank line, then rows ``RF BF VM ST FX [digital]``. Quirks handled (all occur in the published
files; PROVENANCE.md of the shared data lists them), each reported in ``UciTrial.quirks``:

1. ragged tails: rows holding only the FX value (four leading TABs), a stray unit (``7.5V``),
   an empty FX field, empty rows: rows with all four EMG fields are kept; an empty FX field
   repeats the previous angle;
2. goniometer sign: some files log flexion as negative; the sign is normalised per file so that
   flexion is positive (the larger of the 1st/99th-percentile magnitudes is taken as flexion);
3. goniometer rate: most N files logged the angle at 50 Hz and the export interpolated it to
   1000 Hz (the header says so): ``goniometer_native_fs_hz`` is 50 then, else 1000;
4. duplicates: ``2Npie``/``2Nsen`` are byte-identical to ``1Npie``/``1Nsen`` apart from the
   header's file name; ``data_sha256`` hashes only the data rows, and
   :func:`load_uci_directory` keeps one trial per hash;
5. mains interference (60 Hz, Colombia) is measured per channel (fraction of 20–450 Hz power
   within ±1 Hz of the mains harmonics) and noted above :data:`MAINS_NOTE_FRACTION`;
6. an optional 6th column of digital inputs (constant) in some A files is kept aside;
7. header channel names vary ('RF', 'Recto femoral', 'EMG Semitendinoso'…) and channel numbers
   run 1–5 or 4–8: columns are taken by order, names kept for reference.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import RecordingError, UsageError
from ...model import (
    EMG_UNIT,
    GONIOMETER_CHANNELS,
    GONIOMETER_UNITS,
    STREAM_EMG,
    STREAM_KNEE_GONIOMETER,
    SampleBlock,
    StreamInfo,
)

FloatArray = npt.NDArray[np.float64]

FS_HZ = 1000.0
#: Column order of every file (dataset description, BDSEMG_eng.txt §4).
EMG_CHANNELS = ("rectus_femoris", "biceps_femoris", "vastus_medialis", "semitendinosus")
TASKS = {
    "mar": "gait (marcha): walking",
    "pie": "standing knee flexion (de pie): heel towards the buttock",
    "sen": "sitting knee extension (sentado)",
}
GROUPS = {"N": "no knee pathology", "A": "diagnosed knee abnormality"}
#: Fraction of band power in the mains lines above which interference is noted (judgment call:
#: on the published files clean channels measure 0.003–0.08, 1Npie/1Nsen 0.16–0.60).
MAINS_NOTE_FRACTION = 0.10
ATTRIBUTION = (
    "Sanchez, O. & Sotelo, J. (2014). EMG dataset in Lower Limb [Dataset]. UCI Machine Learning "
    "Repository, id 278. https://doi.org/10.24432/C5ZW3P (CC BY 4.0)"
)
LICENSE = "CC BY 4.0"
DOI = "https://doi.org/10.24432/C5ZW3P"

#: Full-match patterns (``$`` would accept a trailing newline: issue #11 item 15).
_NAME_RE = re.compile(r"(?P<subject>\d+)(?P<group>[NA])(?P<task>mar|pie|sen)", re.IGNORECASE)
_CHANNEL_RE = re.compile(
    r"^Channel\s+(?P<number>\d+):\s*'(?P<name>[^']*)',\s*(?P<count>\d+)\s+values,\s*"
    r"engineering units:\s*(?P<unit>[^,]*),\s*(?P<rest>.*)$"
)
_DIGITAL_RE = re.compile(r"^Digitals combined\b.*?:\s*(?P<count>\d+)\s+values", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[A-Za-z°/]*)")


@dataclass(frozen=True, slots=True)
class UciTrial:
    """One recording of the UCI lower-limb EMG dataset, cleaned.

    EMG arrays are raw (unfiltered) in mV at 1000 Hz; the knee angle is in degrees, positive in
    flexion (sign normalised per file), not offset-corrected.
    """

    path: str
    subject: int
    #: "N" (no knee pathology) or "A" (knee abnormality).
    group: str
    #: "mar" (gait), "pie" (standing knee flexion) or "sen" (sitting knee extension).
    task: str
    fs_hz: float
    rectus_femoris: FloatArray
    biceps_femoris: FloatArray
    vastus_medialis: FloatArray
    semitendinosus: FloatArray
    knee_flexion_deg: FloatArray
    #: Channel names as written in the header (EMG ×4, goniometer).
    header_channel_names: tuple[str, ...]
    #: The header's "File Name:" (may differ from the file's own name).
    header_file_name: str
    #: Human-readable notes on every quirk met in this file.
    quirks: tuple[str, ...]
    #: SHA-256 of the data rows (header excluded): equal for the archive's duplicate files.
    data_sha256: str
    #: Rate at which the goniometer was logged before the export (50 or 1000 Hz).
    goniometer_native_fs_hz: float
    #: The file logged flexion as negative and was multiplied by −1.
    goniometer_sign_flipped: bool
    #: Fraction of 20–450 Hz power within ±1 Hz of the 60 Hz harmonics, per EMG channel.
    mains_fraction: tuple[float, ...]
    #: 6th column (digital inputs), when present.
    digital: npt.NDArray[np.int64] | None = field(default=None)

    @property
    def n_samples(self) -> int:
        return int(self.knee_flexion_deg.size)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    @property
    def name(self) -> str:
        return f"{self.subject}{self.group}{self.task}"

    def emg_mv(self) -> FloatArray:
        """EMG as an array of shape (4, n) in :data:`EMG_CHANNELS` order."""
        return np.vstack([self.rectus_femoris, self.biceps_femoris, self.vastus_medialis,
                          self.semitendinosus])

    def to_session_parts(
        self,
    ) -> tuple[tuple[StreamInfo, ...], list[SampleBlock], dict[str, Any]]:
        """Streams, blocks and metadata for a session recording.

        Returns
        -------
        streams : tuple of StreamInfo
            ``emg`` (the four muscles, mV, 1000 Hz) and ``knee.goniometer``
            (``knee_flexion_deg``, deg, 1000 Hz).
        blocks : list of SampleBlock
            One block per stream, ``first_index=0``, ``t0_ns=0``.
        metadata : dict
            Plain JSON types: dataset, attribution (CC BY 4.0), subject, group, task, quirks …
        """
        streams = (
            StreamInfo(STREAM_EMG, EMG_CHANNELS, (EMG_UNIT,) * 4, self.fs_hz,
                       body_location="thigh (RF, BF, VM, ST)"),
            StreamInfo(STREAM_KNEE_GONIOMETER, GONIOMETER_CHANNELS, GONIOMETER_UNITS, self.fs_hz,
                       body_location="knee"),
        )
        blocks = [
            SampleBlock(STREAM_EMG, EMG_CHANNELS, (EMG_UNIT,) * 4, self.fs_hz, 0, 0,
                        self.emg_mv()),
            SampleBlock(STREAM_KNEE_GONIOMETER, GONIOMETER_CHANNELS, GONIOMETER_UNITS,
                        self.fs_hz, 0, 0, self.knee_flexion_deg[np.newaxis, :]),
        ]
        metadata: dict[str, Any] = {
            "source": "uci-emg-lower-limb",
            "dataset": "EMG dataset in Lower Limb (UCI ML Repository id 278)",
            "attribution": ATTRIBUTION,
            "license": LICENSE,
            "doi": DOI,
            "file": Path(self.path).name,
            "header_file_name": self.header_file_name,
            "subject": self.subject,
            "group": self.group,
            "group_description": GROUPS[self.group],
            "task": self.task,
            "task_description": TASKS[self.task],
            "header_channel_names": list(self.header_channel_names),
            "quirks": list(self.quirks),
            "data_sha256": self.data_sha256,
            "goniometer_native_fs_hz": self.goniometer_native_fs_hz,
            "goniometer_sign_flipped": self.goniometer_sign_flipped,
            "mains_fraction": {ch: v for ch, v in zip(EMG_CHANNELS, self.mains_fraction)},
            "device": "Biometrics DataLOG MWX8 (14-bit, 1000 Hz)",
        }
        return streams, blocks, metadata


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
def _fail(path: Path, line: int | None, message: str) -> RecordingError:
    where = f"line {line}: " if line is not None else ""
    return RecordingError(
        f"{where}{message}; this does not look like a UCI 'EMG dataset in Lower Limb' TXT "
        "export (expected 'File Name:', 5 'Channel k:' lines, a blank line, TAB-separated rows)",
        path=str(path),
    )


def _parse_number(text: str) -> tuple[float, str] | None:
    try:
        return float(text), ""  # the common case, fast
    except ValueError:
        pass
    m = _NUMBER_RE.fullmatch(text.strip())
    if m is None:
        return None
    return float(m.group("num")), m.group("unit")


def _mains_fraction(emg: FloatArray, fs_hz: float, mains_hz: float) -> tuple[float, ...]:
    from scipy.signal import welch

    n = emg.shape[1]
    if n < 256:
        return tuple(math.nan for _ in range(emg.shape[0]))
    nper = int(min(2 * fs_hz, n))
    f, p = welch(emg, fs=fs_hz, nperseg=nper)
    band = (f >= 20.0) & (f <= 450.0)
    lines = np.zeros_like(band)
    for h in np.arange(mains_hz, 451.0, mains_hz):
        lines |= np.abs(f - h) <= 1.0
    total = p[:, band].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = p[:, band & lines].sum(axis=1) / total
    return tuple(float(x) for x in frac)


def load_uci_trial(
    path: str | Path, *, subject: int | None = None, group: str | None = None,
    task: str | None = None,
) -> UciTrial:
    """Read one TXT file of the UCI lower-limb EMG dataset.

    Parameters
    ----------
    path : str or Path
        The ``.txt`` export (e.g. ``N_TXT/3Npie.txt``).
    subject, group, task : optional
        Override what is parsed from the file name ``<subject><N|A><task>.txt`` (needed when a
        file was renamed).

    Returns
    -------
    UciTrial

    Raises
    ------
    RecordingError
        Missing/unreadable file, or a file not in this format (names the file and the line).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read the file ({exc.strerror or exc}); check the path",
                             path=str(p)) from exc
    text = raw.decode("latin-1")  # the DataLOG export is Latin-1; every byte decodes
    quirks: list[str] = []
    if "\r\n" in text:
        quirks.append("CRLF line endings")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the newline ending the last row

    # -- header ---------------------------------------------------------------------------
    if not text.strip():
        raise _fail(p, 1, "the file is empty")
    if not lines[0].startswith("File Name:"):
        raise _fail(p, 1, f"expected 'File Name: …', got {lines[0][:60]!r}")
    header_file_name = lines[0][len("File Name:"):].strip()
    channels: list[tuple[str, int, str, str]] = []
    has_digital_header = False
    i = 1
    while i < len(lines) and lines[i].strip():
        line = lines[i]
        m = _CHANNEL_RE.match(line)
        if m:
            channels.append((m.group("name"), int(m.group("count")), m.group("unit").strip(),
                             m.group("rest")))
        elif _DIGITAL_RE.match(line):
            has_digital_header = True
        else:
            raise _fail(p, i + 1, f"unexpected header line {line[:80]!r}")
        i += 1
    if i >= len(lines):
        raise _fail(p, None, "no blank line ends the header")
    if len(channels) != 5:
        raise _fail(p, i, f"expected 5 'Channel k:' header lines (RF, BF, VM, ST, FX), found "
                    f"{len(channels)}")
    units = [c[2] for c in channels]
    if units[:4] != ["mV"] * 4 or units[4] != "deg":
        raise _fail(p, 2, f"expected units mV, mV, mV, mV, deg; got {units!r}")
    header_names = tuple(c[0] for c in channels)
    emg_count = channels[0][1]
    fx_rest = channels[4][3]
    interpolated = "extrapolated from 50" in fx_rest or "from 50 to 1000" in fx_rest
    if interpolated:
        quirks.append(f"goniometer logged at 50 Hz ({channels[4][1]} values) and interpolated to "
                      "1000 Hz by the export")

    # -- data rows ------------------------------------------------------------------------
    data_start = i + 1
    data_text = "\n".join(lines[data_start:])
    digest = hashlib.sha256(data_text.encode("latin-1")).hexdigest()
    emg_rows: list[list[float]] = []
    fx_vals: list[float] = []
    dig_vals: list[int] = []
    fx_only = empty_rows = empty_fx = 0
    stray_units: list[str] = []
    for ln, line in enumerate(lines[data_start:], start=data_start + 1):
        fields = line.split("\t")
        if not line.strip():
            empty_rows += 1
            continue
        emg_fields = [f.strip() for f in fields[:4]]
        if len(fields) < 5 or not all(emg_fields):
            if any(emg_fields):
                raise _fail(p, ln, f"a data row with some EMG fields missing: {line[:80]!r}")
            fx_only += 1
            if len(fields) >= 5:
                parsed = _parse_number(fields[4])
                if parsed is not None and parsed[1]:
                    stray_units.append(fields[4].strip())
            continue
        if fx_only or empty_rows:
            # Dropping rows mid-file would shift every later sample in time.
            raise _fail(p, ln, "a complete data row after incomplete or empty rows")
        values = []
        for f in emg_fields:
            parsed = _parse_number(f)
            if parsed is None or not math.isfinite(parsed[0]):
                raise _fail(p, ln, f"EMG field {f!r} is not a number")
            if parsed[1] and parsed[1] != "mV":
                raise _fail(p, ln, f"EMG field {f!r} has unit {parsed[1]!r}, expected mV")
            if parsed[1]:
                stray_units.append(f)
            values.append(parsed[0])
        emg_rows.append(values)
        fx_text = fields[4].strip()
        if fx_text:
            parsed = _parse_number(fx_text)
            if parsed is None or not math.isfinite(parsed[0]):
                raise _fail(p, ln, f"goniometer field {fx_text!r} is not a number")
            if parsed[1]:
                stray_units.append(fx_text)
            fx_vals.append(parsed[0])
        else:
            empty_fx += 1
            fx_vals.append(fx_vals[-1] if fx_vals else math.nan)
        if len(fields) >= 6 and fields[5].strip():
            parsed = _parse_number(fields[5])
            if parsed is None:
                raise _fail(p, ln, f"digital field {fields[5]!r} is not a number")
            dig_vals.append(int(parsed[0]))
    if not emg_rows:
        raise _fail(p, data_start + 1, "no data row holds all four EMG values")
    n = len(emg_rows)
    if fx_only:
        quirks.append(f"ragged tail: {fx_only} rows with only the goniometer value dropped")
    if empty_rows:
        quirks.append(f"{empty_rows} empty row(s) (TABs only) skipped")
    if empty_fx:
        quirks.append(f"{empty_fx} empty goniometer field(s) filled with the previous value")
    if stray_units:
        quirks.append(f"stray unit(s) on numbers ({', '.join(repr(s) for s in stray_units[:3])})")
    if n != emg_count:
        quirks.append(f"{n} complete rows but the header says {emg_count} values")
    digital: npt.NDArray[np.int64] | None = None
    if has_digital_header and not dig_vals:
        quirks.append("header announces digital inputs but no row has a 6th column")
    if dig_vals:
        if len(dig_vals) != n:
            raise _fail(p, None, f"the 6th (digital) column has {len(dig_vals)} values for {n} rows")
        digital = np.asarray(dig_vals, dtype=np.int64)
        uniq = np.unique(digital)
        quirks.append("6th column of digital inputs kept aside ("
                      + ("constant " + str(int(uniq[0])) if uniq.size == 1 else
                         f"{uniq.size} distinct values") + ")")

    emg = np.asarray(emg_rows, dtype=np.float64).T.copy()
    fx = np.asarray(fx_vals, dtype=np.float64)
    if np.isnan(fx).any():
        # Only possible when the very first rows lack an angle: back-fill from the first value.
        first = int(np.flatnonzero(~np.isnan(fx))[0]) if (~np.isnan(fx)).any() else -1
        if first < 0:
            raise _fail(p, None, "no goniometer value in any complete row")
        fx[:first] = fx[first]

    # -- goniometer sign (flexion positive) -------------------------------------------------
    lo, hi = np.percentile(fx, [1.0, 99.0])
    flipped = bool(abs(lo) > abs(hi))
    if flipped:
        fx = -fx
        quirks.append(f"goniometer sign flipped (flexion logged negative, down to "
                      f"{float(lo):.1f} deg at the 1st percentile)")

    # -- mains interference ---------------------------------------------------------------
    mains = _mains_fraction(emg, FS_HZ, 60.0)
    noisy = [f"{ch} {v:.2f}" for ch, v in zip(EMG_CHANNELS, mains) if v > MAINS_NOTE_FRACTION]
    if noisy:
        quirks.append("mains interference at 60 Hz (band-power fraction in the 60 Hz lines: "
                      + ", ".join(noisy) + "); notch it before spectral analysis")

    # -- identity -------------------------------------------------------------------------
    m = _NAME_RE.fullmatch(p.stem) or _NAME_RE.fullmatch(Path(header_file_name).stem)
    subj = subject if subject is not None else (int(m.group("subject")) if m else None)
    grp = group if group is not None else (m.group("group").upper() if m else None)
    tsk = task if task is not None else (m.group("task").lower() if m else None)
    if subj is None or grp is None or tsk is None:
        raise _fail(p, 1, f"cannot tell subject/group/task from the name {p.name!r} or the "
                    f"header's {header_file_name!r} (expected '<subject><N|A><mar|pie|sen>'); "
                    "pass subject=, group=, task=")
    if grp not in GROUPS:
        raise UsageError(f"group must be one of {sorted(GROUPS)!r}, got {grp!r}")
    if tsk not in TASKS:
        raise UsageError(f"task must be one of {sorted(TASKS)!r}, got {tsk!r}")
    if m is not None and m.group(0) != Path(header_file_name).stem:
        quirks.append(f"header file name {header_file_name!r} differs from the file's name")

    return UciTrial(
        path=str(p), subject=int(subj), group=grp, task=tsk, fs_hz=FS_HZ,
        rectus_femoris=emg[0], biceps_femoris=emg[1], vastus_medialis=emg[2],
        semitendinosus=emg[3], knee_flexion_deg=fx,
        header_channel_names=header_names, header_file_name=header_file_name,
        quirks=tuple(quirks), data_sha256=digest,
        goniometer_native_fs_hz=50.0 if interpolated else FS_HZ,
        goniometer_sign_flipped=flipped, mains_fraction=mains, digital=digital,
    )


@dataclass(frozen=True, slots=True)
class UciDuplicate:
    """A file whose data rows are identical to an earlier one's (an archive error)."""

    path: str
    duplicate_of: str
    data_sha256: str


def load_uci_directory(
    root: str | Path, *, pattern: str = "*.txt",
) -> tuple[list[UciTrial], list[UciDuplicate]]:
    """Load every TXT export under ``root`` (recursively), one trial per distinct content.

    Files are visited in sorted path order; a file whose data rows hash the same as an earlier
    one (e.g. ``2Npie`` ≡ ``1Npie``) is not loaded again but listed as a duplicate.

    Returns
    -------
    trials : list of UciTrial
    duplicates : list of UciDuplicate
    """
    base = Path(root)
    if not base.is_dir():
        raise RecordingError("not a directory; point at the dataset folder holding N_TXT/ and "
                             "A_TXT/", path=str(base))
    trials: list[UciTrial] = []
    dups: list[UciDuplicate] = []
    seen: dict[str, UciTrial] = {}
    for path in sorted(base.rglob(pattern)):
        if not path.is_file() or not path.read_bytes().startswith(b"File Name:"):
            continue  # e.g. BDSEMG_eng.txt, the dataset description
        trial = load_uci_trial(path)
        first = seen.get(trial.data_sha256)
        if first is not None:
            dups.append(UciDuplicate(str(path), first.path, trial.data_sha256))
            continue
        seen[trial.data_sha256] = trial
        trials.append(trial)
    return trials, dups


__all__ = [
    "ATTRIBUTION", "DOI", "EMG_CHANNELS", "FS_HZ", "GROUPS", "LICENSE", "MAINS_NOTE_FRACTION",
    "TASKS", "UciDuplicate", "UciTrial", "load_uci_directory", "load_uci_trial",
]
