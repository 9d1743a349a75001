"""Zeiss LSM scan information: the tree of acquisition settings of a recording.

The record is a flat list of entries ``(u4 code, u4 type, u4 size, data)``. A
code that opens a list (``Tracks``) or a structure in it (``Track``) starts a
nested block, code ``0xFFFFFFFF`` ends the innermost one; other codes are
attributes of the current structure (type 2 text, 4 a LONG, 5 a DOUBLE). The
top block is the recording (code ``0x10000000``).
"""

from __future__ import annotations

from typing import Any

from tiffzarr.errors import TiffFormatError
from tiffzarr.format._records import Cursor, decode_text

__all__ = ["SCANINFO_ARRAYS", "SCANINFO_ATTRIBUTES", "SCANINFO_STRUCTS", "decode_scaninfo"]

RECORDING, BLOCK_END = 0x10000000, 0xFFFFFFFF
MAX_ENTRIES = 100_000
"""Entries decoded from one record."""
MAX_DEPTH = 32

SCANINFO_ARRAYS: dict[int, str] = {
    0x20000000: "Tracks",
    0x30000000: "Lasers",
    0x60000000: "DetectionChannels",
    0x80000000: "IlluminationChannels",
    0xA0000000: "BeamSplitters",
    0xC0000000: "DataChannels",
    0x11000000: "Timers",
    0x13000000: "Markers",
}
"""Codes that open a list of structures."""

SCANINFO_STRUCTS: dict[int, str] = {
    0x40000000: "Track",
    0x50000000: "Laser",
    0x70000000: "DetectionChannel",
    0x90000000: "IlluminationChannel",
    0xB0000000: "BeamSplitter",
    0xD0000000: "DataChannel",
    0x12000000: "Timer",
    0x14000000: "Marker",
}
"""Codes that open one structure of a list."""

_RECORDING = {
    0x01: "Name", 0x02: "Description", 0x03: "Notes", 0x04: "Objective",
    0x05: "ProcessingSummary", 0x06: "SpecialScanMode", 0x07: "ScanType", 0x08: "ScanMode",
    0x09: "NumberOfStacks", 0x0A: "LinesPerPlane", 0x0B: "SamplesPerLine",
    0x0C: "PlanesPerVolume", 0x0D: "ImagesWidth", 0x0E: "ImagesHeight",
    0x0F: "ImagesNumberPlanes", 0x10: "ImagesNumberStacks", 0x11: "ImagesNumberChannels",
    0x12: "LinscanXySize", 0x13: "ScanDirection", 0x14: "TimeSeries", 0x15: "OriginalScanData",
    0x16: "ZoomX", 0x17: "ZoomY", 0x18: "ZoomZ", 0x19: "Sample0X", 0x1A: "Sample0Y",
    0x1B: "Sample0Z", 0x1C: "SampleSpacing", 0x1D: "LineSpacing", 0x1E: "PlaneSpacing",
    0x1F: "PlaneWidth", 0x20: "PlaneHeight", 0x21: "VolumeDepth", 0x23: "Nutation",
    0x34: "Rotation", 0x35: "Precession", 0x36: "Sample0time", 0x37: "StartScanTriggerIn",
    0x38: "StartScanTriggerOut", 0x39: "StartScanEvent", 0x40: "StartScanTime",
    0x41: "StopScanTriggerIn", 0x42: "StopScanTriggerOut", 0x43: "StopScanEvent",
    0x44: "StopScanTime", 0x45: "UseRois", 0x46: "UseReducedMemoryRois", 0x47: "User",
    0x48: "UseBcCorrection", 0x49: "PositionBcCorrection1", 0x50: "PositionBcCorrection2",
    0x51: "InterpolationY", 0x52: "CameraBinning", 0x53: "CameraSupersampling",
    0x54: "CameraFrameWidth", 0x55: "CameraFrameHeight", 0x56: "CameraOffsetX",
    0x57: "CameraOffsetY", 0x59: "RtBinning", 0x5A: "RtFrameWidth", 0x5B: "RtFrameHeight",
    0x5C: "RtRegionWidth", 0x5D: "RtRegionHeight", 0x5E: "RtOffsetX", 0x5F: "RtOffsetY",
    0x60: "RtZoom", 0x61: "RtLinePeriod", 0x62: "Prescan", 0x63: "ScanDirectionZ",
}  # fmt: skip
_TRACK = {
    0x01: "MultiplexType", 0x02: "MultiplexOrder", 0x03: "SamplingMode",
    0x04: "SamplingMethod", 0x05: "SamplingNumber", 0x06: "Acquire",
    0x07: "SampleObservationTime", 0x0B: "TimeBetweenStacks", 0x0C: "Name",
    0x0D: "Collimator1Name", 0x0E: "Collimator1Position", 0x0F: "Collimator2Name",
    0x10: "Collimator2Position", 0x11: "IsBleachTrack", 0x12: "IsBleachAfterScanNumber",
    0x13: "BleachScanNumber", 0x14: "TriggerIn", 0x15: "TriggerOut", 0x16: "IsRatioTrack",
    0x17: "BleachCount", 0x18: "SpiCenterWavelength", 0x19: "PixelTime",
    0x21: "CondensorFrontlens", 0x23: "FieldStopValue", 0x24: "IdCondensorAperture",
    0x25: "CondensorAperture", 0x26: "IdCondensorRevolver", 0x27: "CondensorFilter",
    0x28: "IdTransmissionFilter1", 0x29: "IdTransmission1", 0x30: "IdTransmissionFilter2",
    0x31: "IdTransmission2", 0x32: "RepeatBleach", 0x33: "EnableSpotBleachPos",
    0x34: "SpotBleachPosx", 0x35: "SpotBleachPosy", 0x36: "SpotBleachPosz",
    0x37: "IdTubelens", 0x38: "IdTubelensPosition", 0x39: "TransmittedLight",
    0x3A: "ReflectedLight", 0x3B: "SimultanGrabAndBleach", 0x3C: "BleachPixelTime",
}  # fmt: skip
_LASER = {0x01: "Name", 0x02: "Acquire", 0x03: "Power"}
_DETECTION_CHANNEL = {
    0x01: "IntegrationMode", 0x02: "SpecialMode", 0x03: "DetectorGainFirst",
    0x04: "DetectorGainLast", 0x05: "AmplifierGainFirst", 0x06: "AmplifierGainLast",
    0x07: "AmplifierOffsFirst", 0x08: "AmplifierOffsLast", 0x09: "PinholeDiameter",
    0x0A: "CountingTrigger", 0x0B: "Acquire", 0x0C: "PointDetectorName",
    0x0D: "AmplifierName", 0x0E: "PinholeName", 0x0F: "FilterSetName", 0x10: "FilterName",
    0x13: "IntegratorName", 0x14: "ChannelName", 0x15: "DetectorGainBc1",
    0x16: "DetectorGainBc2", 0x17: "AmplifierGainBc1", 0x18: "AmplifierGainBc2",
    0x19: "AmplifierOffsetBc1", 0x20: "AmplifierOffsetBc2", 0x21: "SpectralScanChannels",
    0x22: "SpiWavelengthStart", 0x23: "SpiWavelengthStop", 0x26: "DyeName",
    0x27: "DyeFolder",
}  # fmt: skip
_ILLUMINATION_CHANNEL = {
    0x01: "Name", 0x02: "Power", 0x03: "Wavelength", 0x04: "Aquire",  # sic
    0x05: "DetchannelName", 0x06: "PowerBc1", 0x07: "PowerBc2",
}  # fmt: skip
_BEAM_SPLITTER = {0x01: "FilterSet", 0x02: "Filter", 0x03: "Name"}
_DATA_CHANNEL = {
    0x01: "Name", 0x03: "Acquire", 0x04: "Color", 0x05: "SampleType", 0x06: "BitsPerSample",
    0x07: "RatioType", 0x08: "RatioTrack1", 0x09: "RatioTrack2", 0x0A: "RatioChannel1",
    0x0B: "RatioChannel2", 0x0C: "RatioConst1", 0x0D: "RatioConst2", 0x0E: "RatioConst3",
    0x0F: "RatioConst4", 0x10: "RatioConst5", 0x11: "RatioConst6",
    0x12: "RatioFirstImages1", 0x13: "RatioFirstImages2", 0x14: "DyeName",
    0x15: "DyeFolder", 0x16: "Spectrum", 0x17: "Acquire",
}  # fmt: skip
_TIMER = {
    0x01: "Name", 0x02: "Description", 0x03: "Interval", 0x04: "TriggerIn",
    0x05: "TriggerOut", 0x06: "ActivationTime", 0x07: "ActivationNumber",
}  # fmt: skip
_MARKER = {0x01: "Name", 0x02: "Description", 0x03: "TriggerIn", 0x04: "TriggerOut"}

SCANINFO_ATTRIBUTES: dict[int, str] = {
    base + low: name
    for base, names in (
        (RECORDING, _RECORDING),
        (0x40000000, _TRACK),
        (0x50000000, _LASER),
        (0x70000000, _DETECTION_CHANNEL),
        (0x90000000, _ILLUMINATION_CHANNEL),
        (0xB0000000, _BEAM_SPLITTER),
        (0xD0000000, _DATA_CHANNEL),
        (0x12000000, _TIMER),
        (0x14000000, _MARKER),
    )
    for low, name in names.items()
}
"""Attribute code → name, by the structure it belongs to (the code's high byte)."""

_ASCII, _LONG, _DOUBLE = 2, 4, 5


def _value(cursor: Cursor, kind: int, size: int) -> Any:
    if kind == _ASCII:
        return decode_text(cursor.take(size))
    if kind == _LONG:
        return cursor.i4()
    if kind == _DOUBLE:
        return cursor.f8()
    cursor.take(size)
    return 0


def decode_scaninfo(data: bytes, /) -> dict[str, Any]:
    """The recording's settings as nested dicts and lists.

    >>> entry = lambda code, kind, payload: (code.to_bytes(4, "little") + kind.to_bytes(4,
    ...     "little") + len(payload).to_bytes(4, "little") + payload)
    >>> blob = (entry(0x10000000, 0, b"") + entry(0x10000001, 2, b"scan\\x00")
    ...         + entry(0xFFFFFFFF, 0, b""))
    >>> decode_scaninfo(blob)
    {'Name': 'scan'}
    """
    cursor = Cursor(data)
    if cursor.u4() != RECORDING:
        raise TiffFormatError("the LSM scan information does not start with a recording")
    cursor.take(8)
    block: dict[str, Any] | list[Any] = {}
    root = block
    stack: list[dict[str, Any] | list[Any]] = [block]
    for _ in range(MAX_ENTRIES):
        code, kind, size = cursor.unpack("3I")
        value = _value(cursor, kind, size)
        if code in SCANINFO_ARRAYS or code in SCANINFO_STRUCTS:
            if len(stack) >= MAX_DEPTH:
                raise TiffFormatError("the LSM scan information nests too deep")
            stack.append(block)
            child: dict[str, Any] | list[Any]
            if code in SCANINFO_ARRAYS:
                child = []
                _put(block, SCANINFO_ARRAYS[code], child)
            else:
                child = {}
                _put(block, SCANINFO_STRUCTS[code], child)
            block = child
        elif code == BLOCK_END:
            block = stack.pop()
            if not stack:
                break
        else:
            _put(block, SCANINFO_ATTRIBUTES.get(code, f"Entry0x{code:x}"), value)
    assert isinstance(root, dict)
    return root


def _put(block: dict[str, Any] | list[Any], name: str, value: Any) -> None:
    """Add ``value`` to a structure (by name) or to a list (as an item)."""
    if isinstance(block, list):
        block.append(value)
    else:
        block[name] = value
