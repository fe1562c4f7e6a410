"""Fuzz the protocol decoders: random and mutated payloads must give items or DecodeError only.

    python bench/fuzz_decoder.py                    # 120 000 frames + 20 000 of each other codec
                                                    # + 100 000 Polar PMD data frames
    python bench/fuzz_decoder.py --frames 1000000 --seed 7

Inputs (seeded, reproducible): one third random byte strings (0–300 bytes), two thirds valid
frames of a 4-EMG + 2-IMU device (int16, plus int24/int8 streams) mutated by 1–6 operations
(byte overwrite, bit flip, truncation, extension, header-field randomisation, duplication of a
chunk). All go through one long-lived ``FrameDecoder`` (so state — expected indices, the clock
fit, unwrapping — is fuzzed too), interleaved with valid frames. The config, status and control
decoders get random and mutated inputs as well. The Polar PMD decoder (``PmdDecoder``, ACC +
GYRO, raw and delta-compressed frames) gets ``--pmd`` fuzzed frames the same way, and its
control-point and settings codecs ``--other`` each.

A crash is any exception other than ``DecodeError``, or a ``DecodeError`` wrapping an internal
error ("internal decoder error ..."). The script prints counts and exits 1 on any crash.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from sensor_pipeline.errors import DecodeError
from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, StreamInfo
from sensor_pipeline.protocol import (
    DeviceDescription,
    DeviceStatus,
    FrameDecoder,
    SampleFormat,
    StreamDescriptor,
    StreamKind,
    decode_description,
    decode_response,
    decode_status,
    description_for,
    encode_description,
    encode_frame,
    encode_response,
    encode_status,
)
from sensor_pipeline.protocol.pmd_decoder import PmdDecoder, PmdStreamSpec
from sensor_pipeline.protocol.polar_pmd import (
    MeasurementType,
    PmdOpcode,
    PmdStatus,
    SettingType,
    decode_control_response,
    decode_settings,
    encode_control_response,
    encode_data_frame,
    encode_settings,
)


def device() -> DeviceDescription:
    streams = [StreamInfo("emg", ("biceps_femoris", "semitendinosus", "semimembranosus",
                                  "biceps_femoris_short"), ("mV",) * 4, 2000.0),
               StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0),
               StreamInfo("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0)]
    base = description_for(streams, device_id="fuzz")
    extra = (
        StreamDescriptor(stream_id=5, kind=StreamKind.EMG, n_channels=3, rate_mhz=1_000_000,
                         sample_format=SampleFormat.INT24, scale=(1e-4,), offset=(0.5,),
                         units=("uV",), name="emg24"),
        StreamDescriptor(stream_id=6, kind=StreamKind.GONIOMETER, n_channels=1, rate_mhz=50_000,
                         sample_format=SampleFormat.INT8, scale=(0.5,), units=("deg",)),
    )
    return DeviceDescription(device_id="fuzz", streams=base.streams + extra,
                             unsupported_streams=(9,))


def mutate(buf: bytes, rng: random.Random) -> bytes:
    b = bytearray(buf)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            del b[rng.randrange(len(b) + 1):]
        elif op == 3:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and len(b) >= 12:
            # Randomise one header field (flags/version, id, n, c, index, time).
            field = rng.choice([(0, 1), (1, 1), (2, 1), (3, 1), (4, 4), (8, 4)])
            pos, size = field
            b[pos:pos + size] = rng.randrange(256**size).to_bytes(size, "little")
        elif op == 5 and b:
            i = rng.randrange(len(b))
            j = rng.randrange(i, len(b) + 1)
            b[j:j] = b[i:j]
    return bytes(b)


def run_codec(name: str, n: int, valid: list[bytes], fn: Callable[[bytes], Any],
              rng: random.Random) -> tuple[int, int, int, list[str]]:
    ok = errors = crashes = 0
    reports: list[str] = []
    for k in range(n):
        if k % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:
            data = mutate(rng.choice(valid), rng)
        try:
            fn(data)
            ok += 1
        except DecodeError as exc:
            if str(exc).startswith("internal decoder error"):
                crashes += 1
                reports.append(f"{name}: {exc!r} on {data.hex()}")
            else:
                errors += 1
        except Exception:  # noqa: BLE001 - any other exception is the crash a fuzzer looks for
            crashes += 1
            reports.append(f"{name}: {traceback.format_exc()} on {data.hex()}")
    return ok, errors, crashes, reports


def fuzz_pmd(n: int, rng: random.Random, nrng: np.random.Generator) -> tuple[int, list[str]]:
    """Fuzz one long-lived ``PmdDecoder`` (state: timestamps, indices, clock fit)."""
    valid = []
    ts = 10**18
    for m, ftype, compressed, lim in ((MeasurementType.ACC, 0, True, 2**15),
                                      (MeasurementType.ACC, 1, False, 2**15),
                                      (MeasurementType.ACC, 2, False, 2**23),
                                      (MeasurementType.GYRO, 0, True, 2**15)):
        for k in (1, 2, 36, 80):
            ts += 10**8
            v = nrng.integers(-lim, lim, (k, 3))
            valid.append(encode_data_frame(m, ts, v, frame_type=ftype, compressed=compressed))
    dec = PmdDecoder({MeasurementType.ACC: PmdStreamSpec("acc.thigh", 52.0, 2.44e-4),
                      MeasurementType.GYRO: PmdStreamSpec("gyr.thigh", 52.0, 0.061)})
    crashes, items, errors, reports = 0, 0, 0, []
    t_ns = 10**9
    t0 = time.perf_counter()
    for k in range(n):
        t_ns += rng.randint(0, 30_000_000)
        ts += rng.randint(0, 2_000_000_000)
        if k % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:  # a valid frame at the advancing device time, then (mostly) mutated
            frame = bytearray(rng.choice(valid))
            frame[1:9] = ts.to_bytes(8, "little")
            data = bytes(frame) if k % 3 == 1 else mutate(bytes(frame), rng)
        try:
            items += len(dec.feed(data, t_ns))
        except DecodeError:
            errors += 1
        except Exception:  # noqa: BLE001 - any other exception is the crash a fuzzer looks for
            crashes += 1
            reports.append(f"PmdDecoder.feed: {traceback.format_exc()} on {data.hex()}")
    print(f"PmdDecoder.feed: {n} fuzzed frames in {time.perf_counter() - t0:.1f} s: {items} "
          f"items, {errors} DecodeError, {crashes} crashes")
    return crashes, reports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120_000)
    ap.add_argument("--other", type=int, default=20_000,
                    help="inputs for each of the config/status/control decoders")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--pmd", type=int, default=100_000, help="fuzzed Polar PMD data frames")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    desc = device()
    valid = []
    for d in desc.streams:
        fmt = d.sample_format
        for n in (1, 2, 11, 29, 40):
            raw = nrng.integers(fmt.raw_min, fmt.raw_max + 1, (n, d.n_channels))
            valid.append(encode_frame(d, int(nrng.integers(0, 2**32)),
                                      int(nrng.integers(0, 2**32)), raw))
    dec = FrameDecoder(desc)
    t_ns = 10**9
    counts = {"frames": 0, "items": 0, "decode_errors": 0, "crashes": 0, "valid_fed": 0}
    reports: list[str] = []
    t0 = time.perf_counter()
    for k in range(args.frames):
        t_ns += rng.randint(0, 30_000_000)
        if k % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:
            data = mutate(rng.choice(valid), rng)
        counts["frames"] += 1
        try:
            counts["items"] += len(dec.feed(data, t_ns))
        except DecodeError as exc:
            if str(exc).startswith("internal decoder error"):
                counts["crashes"] += 1
                reports.append(f"feed: {exc!r} on {data.hex()}")
            else:
                counts["decode_errors"] += 1
        except Exception:  # noqa: BLE001 - any other exception is the crash a fuzzer looks for
            counts["crashes"] += 1
            reports.append(f"feed: {traceback.format_exc()} on {data.hex()}")
        if k % 10 == 0:  # keep the state machine exercised with valid frames too
            counts["valid_fed"] += 1
            try:
                dec.feed(rng.choice(valid), t_ns)
            except DecodeError:
                pass
            except Exception:  # noqa: BLE001 - any other exception is the crash a fuzzer looks for
                counts["crashes"] += 1
                reports.append(f"feed(valid): {traceback.format_exc()}")
    dt = time.perf_counter() - t0
    print(f"FrameDecoder.feed: {counts['frames']} fuzzed frames (+{counts['valid_fed']} valid "
          f"interleaved) in {dt:.1f} s: {counts['items']} items, {counts['decode_errors']} "
          f"DecodeError, {counts['crashes']} crashes; decoder statistics: "
          f"{dec.statistics().decode_errors} decode errors counted")
    cfg = [encode_description(desc)]
    status = [encode_status(DeviceStatus(50, 1, 123, 3, ((0, 1), (1, 2), (5, 9))))]
    resp = [encode_response(2, 7, 0), encode_response(2, 8, 5, b"\x1b\x00")]
    total_crashes = counts["crashes"]
    pmd_crashes, pmd_reports = fuzz_pmd(args.pmd, rng, nrng)
    total_crashes += pmd_crashes
    reports += pmd_reports
    pmd_cp = [encode_control_response(PmdOpcode.REQUEST_MEASUREMENT_START, MeasurementType.ACC,
                                      PmdStatus.SUCCESS, encode_settings({SettingType.FACTOR: 1.0})),
              encode_control_response(PmdOpcode.GET_MEASUREMENT_SETTINGS, MeasurementType.GYRO,
                                      PmdStatus.INVALID_SAMPLE_RATE)]
    pmd_settings = [encode_settings({SettingType.SAMPLE_RATE: (26.0, 52.0),
                                     SettingType.RESOLUTION: (16.0,),
                                     SettingType.RANGE: (2.0, 8.0), SettingType.CHANNELS: (3.0,)})]
    for name, valid_inputs, fn in (("decode_description", cfg, decode_description),
                                   ("decode_status", status, decode_status),
                                   ("decode_response", resp, decode_response),
                                   ("pmd decode_control_response", pmd_cp,
                                    decode_control_response),
                                   ("pmd decode_settings", pmd_settings, decode_settings)):
        ok, errs, crashes, rep = run_codec(name, args.other, valid_inputs, fn, rng)
        reports += rep
        total_crashes += crashes
        print(f"{name}: {args.other} inputs: {ok} decoded, {errs} DecodeError, {crashes} crashes")
    for r in reports[:5]:
        print(r, file=sys.stderr)
    print(f"total: {args.frames + args.pmd + 5 * args.other} inputs, {total_crashes} crashes "
          f"(seed {args.seed})")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
