"""Synthetic ``Features`` for risk-layer tests (no DSP involved: every value is chosen)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sensor_pipeline.config import Config
from sensor_pipeline.model import NS_PER_S, Features, JasaClass

HOP_S = Config().engine.hop_s
HOP_NS = round(HOP_S * NS_PER_S)

#: domain.md §2.2 / §8 oracle 8 (exact model, % of standing length), SM, ST, BFlh, BFsh.
TABLE_PCT = {
    (0.0, 0.0): (0.0, 0.0, 0.0, 0.0),
    (0.0, 90.0): (-14.2, -15.0, -11.3, -19.3),
    (90.0, 90.0): (5.1, 6.4, 10.2, -19.3),
}


def length_change(hip_deg: float, knee_deg: float) -> tuple[float, float, float, float]:
    """ΔL% per head from the project's polynomial model (dsp/hamstring.py)."""
    if math.isnan(hip_deg) or math.isnan(knee_deg):
        return (math.nan,) * 4
    from sensor_pipeline.dsp.hamstring import hamstring_length_change_pct

    d = hamstring_length_change_pct(hip_deg, knee_deg)
    from sensor_pipeline.model import HAMSTRING_HEADS

    return tuple(float(d[h]) for h in HAMSTRING_HEADS)  # type: ignore[return-value]


def features(
    t_s: float,
    *,
    knee: float = 0.0,
    hip: float = 0.0,
    rms_norm: float | Sequence[float] = 0.05,
    fatigue: float | Sequence[float] = 0.0,
    jasa: JasaClass | Sequence[JasaClass] | None = None,
    rms_mv: float | Sequence[float] | None = None,
    active: bool | Sequence[bool] | None = None,
    knee_speed: float = 0.0,
    calibrating: bool = False,
    missing: tuple[str, ...] = (),
    std_mv: float | Sequence[float] = 0.05,
    saturation: float | Sequence[float] = 0.0,
    mains: float | Sequence[float] = 0.05,
    channels: tuple[str, ...] = ("biceps_femoris",),
    length_pct: tuple[float, float, float, float] | None = None,
    t_ns: int | None = None,
) -> Features:
    n = len(channels)

    def per(x, cast=float):  # type: ignore[no-untyped-def]
        if isinstance(x, (list, tuple)):
            assert len(x) == n
            return tuple(cast(v) for v in x)
        return (cast(x),) * n

    norm = per(rms_norm)
    mv = per(rms_mv) if rms_mv is not None else tuple(1.0 * v for v in norm)
    act = per(active, bool) if active is not None else tuple(v >= 0.1 for v in norm)
    fi = per(fatigue)
    return Features(
        t_ns=round(t_s * NS_PER_S) if t_ns is None else t_ns,
        calibrating=calibrating,
        knee_flexion_deg=knee,
        hip_flexion_deg=hip,
        knee_speed_dps=knee_speed,
        angle_source="imu",
        angles_out_of_range=False,
        length_change_pct=length_pct if length_pct is not None else length_change(hip, knee),
        emg_channels=channels,
        emg_rms_mv=mv,
        emg_rms_norm=norm,
        emg_active=act,
        mdf_hz=tuple(100.0 * (1 - f) for f in fi),
        mnf_hz=tuple(110.0 * (1 - f) for f in fi),
        fi_nsm5=(math.nan,) * n,
        mdf_tracked_hz=tuple(100.0 * (1 - f) for f in fi),
        mdf_baseline_hz=(100.0,) * n,
        fatigue_index=fi,
        mdf_slope_pct_per_min=(0.0,) * n,
        # Default: a fatigued channel also shows the JASA fatigue trend (risk.require-jasa-fatigue).
        jasa=per(jasa, JasaClass) if jasa is not None else tuple(
            JasaClass.FATIGUE if f >= 0.05 else JasaClass.STABLE for f in fi),
        mains_fraction=per(mains),
        emg_std_mv=per(std_mv),
        emg_saturation_fraction=per(saturation),
        missing_streams=missing,
    )


def hop_times(start_s: float, stop_s: float) -> list[float]:
    """Frame times k·hop in (start_s, stop_s]."""
    k0 = round(start_s / HOP_S) + 1
    k1 = round(stop_s / HOP_S)
    return [k * HOP_S for k in range(k0, k1 + 1)]
