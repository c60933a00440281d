"""The few libpcap calls a live capture needs, through ctypes (the library scapy's binding loads too).

Why not scapy's binding for live captures: importing scapy and letting it set up libpcap costs a
process ~200-300 ms (its configuration enumerates interfaces) before the first packet, and it
its buffer timeout was 10 ms.  Here the library loads in ~5 ms and blocks of packets are handed
over after at most 1 ms.  Reading pcap files (``inspect``) still goes through scapy.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["Pcap", "PcapError", "load"]


class PcapError(OSError):
    """libpcap refused: the library is missing, the device cannot be opened, the filter is wrong."""


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Header(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


class _Stat(ctypes.Structure):
    _fields_ = [("ps_recv", ctypes.c_uint), ("ps_drop", ctypes.c_uint), ("ps_ifdrop", ctypes.c_uint)]


_lib: ctypes.CDLL | None = None
_P = ctypes.c_void_p


def load() -> ctypes.CDLL:
    """The libpcap library, with the signatures used here (PcapError when it is not installed)."""
    global _lib
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise PcapError(f"libpcap is not installed ({exc}; Debian: libpcap0.8)") from None
    signatures = {
        "pcap_create": (_P, [ctypes.c_char_p, ctypes.c_char_p]),
        "pcap_set_snaplen": (ctypes.c_int, [_P, ctypes.c_int]),
        "pcap_set_promisc": (ctypes.c_int, [_P, ctypes.c_int]),
        "pcap_set_timeout": (ctypes.c_int, [_P, ctypes.c_int]),
        "pcap_set_buffer_size": (ctypes.c_int, [_P, ctypes.c_int]),
        "pcap_activate": (ctypes.c_int, [_P]),
        "pcap_geterr": (ctypes.c_char_p, [_P]),
        "pcap_statustostr": (ctypes.c_char_p, [ctypes.c_int]),
        "pcap_compile": (ctypes.c_int, [_P, ctypes.POINTER(_Program), ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]),
        "pcap_setfilter": (ctypes.c_int, [_P, ctypes.POINTER(_Program)]),
        "pcap_freecode": (None, [ctypes.POINTER(_Program)]),
        "pcap_setnonblock": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_char_p]),
        "pcap_get_selectable_fd": (ctypes.c_int, [_P]),
        "pcap_next_ex": (
            ctypes.c_int,
            [_P, ctypes.POINTER(ctypes.POINTER(_Header)), ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))],
        ),
        "pcap_datalink": (ctypes.c_int, [_P]),
        "pcap_stats": (ctypes.c_int, [_P, ctypes.POINTER(_Stat)]),
        "pcap_close": (None, [_P]),
    }
    for function, (restype, argtypes) in signatures.items():
        call = getattr(lib, function)
        call.restype, call.argtypes = restype, argtypes
    _lib = lib
    return lib


class Pcap:
    """One live capture handle: ``Pcap("lo", "udp")``; :meth:`next` returns (timestamp, bytes) or None."""

    def __init__(self, device: str, bpf: str = "", snaplen: int = 65535, buffer_size: int = 4 << 20) -> None:
        lib = self._lib = load()
        errors = ctypes.create_string_buffer(256)
        handle = lib.pcap_create(device.encode(), errors)
        if not handle:
            raise PcapError(f"cannot capture on {device}: {errors.value.decode(errors='replace')}")
        self._handle: int | None = handle
        lib.pcap_set_snaplen(handle, snaplen)
        lib.pcap_set_promisc(handle, 0)
        # Not immediate mode: libpcap then uses fixed frames of snaplen bytes (64 KiB each, ~60 in a
        # 4 MiB ring: a burst of 2,000 datagrams lost hundreds). Variable-size blocks (TPACKET_V3)
        # handed over after at most 1 ms keep a burst whole and a flush short.
        lib.pcap_set_timeout(handle, 1)
        lib.pcap_set_buffer_size(handle, buffer_size)  # the field notes: a small buffer loses packets under load
        status = lib.pcap_activate(handle)
        if status < 0:
            reason = self._error() or lib.pcap_statustostr(status).decode(errors="replace")
            self.close()
            raise PcapError(f"cannot capture on {device}: {reason}")
        if bpf:
            self.setfilter(bpf)
        if lib.pcap_setnonblock(handle, 1, errors) != 0:
            self.close()
            raise PcapError(f"cannot capture on {device}: {errors.value.decode(errors='replace')}")
        self._header = ctypes.POINTER(_Header)()
        self._data = ctypes.POINTER(ctypes.c_ubyte)()

    def _error(self) -> str:
        message = self._lib.pcap_geterr(self._handle) if self._handle else None
        return message.decode(errors="replace") if message else ""

    def setfilter(self, bpf: str) -> None:
        program = _Program()
        if self._lib.pcap_compile(self._handle, ctypes.byref(program), bpf.encode(), 1, 0xFFFFFFFF) != 0:
            raise PcapError(f"BPF filter {bpf!r}: {self._error()}")
        try:
            if self._lib.pcap_setfilter(self._handle, ctypes.byref(program)) != 0:
                raise PcapError(f"BPF filter {bpf!r}: {self._error()}")
        finally:
            self._lib.pcap_freecode(ctypes.byref(program))

    def fileno(self) -> int:
        return int(self._lib.pcap_get_selectable_fd(self._handle))

    def datalink(self) -> int:
        return int(self._lib.pcap_datalink(self._handle))

    def next(self) -> tuple[float, bytes] | None:
        """The next packet already captured, or None (non-blocking)."""
        status = self._lib.pcap_next_ex(self._handle, ctypes.byref(self._header), ctypes.byref(self._data))
        if status != 1:
            if status in (-1,):
                raise PcapError(self._error())
            return None
        header = self._header.contents
        return header.ts.tv_sec + header.ts.tv_usec / 1e6, ctypes.string_at(self._data, header.caplen)

    def stats(self) -> tuple[int, int, int]:
        """(received, dropped, interface-dropped), as the kernel counted them."""
        stat = _Stat()
        if self._lib.pcap_stats(self._handle, ctypes.byref(stat)) != 0:
            raise PcapError(self._error())
        return int(stat.ps_recv), int(stat.ps_drop), int(stat.ps_ifdrop)

    def close(self) -> None:
        if self._handle:
            self._lib.pcap_close(self._handle)
            self._handle = None
