"""Interop matrix files as pytest items: one per ordered pair of stacks and case (docs/interop.md).

Naming rule: a ``.yaml``/``.yml`` file with a top-level ``interop-matrix:`` key (and no
``scenario:``) is a matrix::

    interop-matrix:
      stacks: [aiortc, chromium, firefox, gstreamer, pion, werift]
      cases: [connect, data, video]
      incompatible:                      # verdicts found and explained: kept as test data
        gstreamer -> aiortc: dtls.mti-suite
        "* -> pion": {data: why}         # one case, no wire rule broken; * is every stack

Every ordered pair runs once (its cases share the run; the items of a pair carry
``xdist_group`` so that ``--dist loadgroup`` keeps them on one worker) and each item judges its
cell: the call's report and the wire verdict of its capture.  An ``incompatible`` pair's cells
are strict expected failures — for a wire rule, every case fails on that rule; for ``{case: why}``,
that case fails with no wire rule broken — and if one passes, or fails for another reason, it says
so. A case a stack really cannot do (werift sends no video) passes as ``unsupported``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ..scenario.files import has_top_level_key

if TYPE_CHECKING:
    from ..matrix import Cell

__all__ = ["CellFailed", "MatrixFile", "MatrixItem", "is_matrix_file"]

_RUNS = pytest.StashKey[dict[tuple[str, str], list["Cell"]]]()


def is_matrix_file(path: Path) -> bool:
    return has_top_level_key(path, "interop-matrix")


class CellFailed(AssertionError):
    """A cell of the matrix failed: its reason, as the matrix prints it."""


Expected = dict[str, str]  # case -> a wire rule every case fails on ("rule:ID"), or why that case fails


def _spec(path: Path) -> tuple[list[str], list[str], dict[tuple[str, str], Expected]]:
    from ..matrix import CASES
    from ..peer.stacks import STACKS

    where = f"{path}: interop-matrix"
    spec = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("interop-matrix") or {}
    if not isinstance(spec, dict):
        raise pytest.UsageError(f"{where}: a mapping with stacks, cases and incompatible")
    stacks = [str(s) for s in spec.get("stacks", list(STACKS))]
    cases = [str(c) for c in spec.get("cases", list(CASES))]
    unknown = [s for s in stacks if s not in STACKS] + [c for c in cases if c not in CASES]
    if unknown:
        raise pytest.UsageError(f"{where}: unknown {unknown}; stacks: {', '.join(STACKS)}; cases: {', '.join(CASES)}")
    incompatible: dict[tuple[str, str], Expected] = {}
    for pair, value in (spec.get("incompatible") or {}).items():
        caller, _, callee = (side.strip() for side in str(pair).partition("->"))
        if not callee or {caller, callee} - {*STACKS, "*"}:
            raise pytest.UsageError(f"{where}.incompatible: {pair!r} is not 'CALLER -> CALLEE' of known stacks (or *)")
        if isinstance(value, dict):
            if set(value) - set(CASES):
                raise pytest.UsageError(f"{where}.incompatible.{pair}: cases are {', '.join(CASES)}")
            expected = {str(case): str(why) for case, why in value.items()}
        else:
            expected = dict.fromkeys(CASES, f"rule:{value}")
        for a in stacks if caller == "*" else [caller]:
            for b in stacks if callee == "*" else [callee]:
                incompatible.setdefault((a, b), {}).update(expected)
    return stacks, cases, incompatible


class MatrixFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        stacks, cases, incompatible = _spec(self.path)
        for caller in stacks:
            for callee in stacks:
                for case in cases:
                    expected = incompatible.get((caller, callee), {}).get(case)
                    item = MatrixItem.from_parent(
                        self,
                        name=f"{caller}-calls-{callee}-{case}",
                        pair=(caller, callee),
                        case=case,
                        expected=expected,
                    )
                    item.add_marker(pytest.mark.xdist_group(f"interop-{caller}-{callee}"))
                    item.add_marker(pytest.mark.slow)
                    if expected is not None:
                        reason = expected.removeprefix("rule:")
                        item.add_marker(
                            pytest.mark.xfail(raises=CellFailed, strict=True, reason=f"incompatible: {reason}")
                        )
                    yield item


class MatrixItem(pytest.Item):
    def __init__(self, *, pair: tuple[str, str], case: str, expected: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pair, self.case, self.expected = pair, case, expected

    def _cells(self) -> list[Cell]:
        from ..matrix import run_pair
        from .basetemp import basetemp

        runs = self.config.stash.setdefault(_RUNS, {})
        if self.pair not in runs:
            runs[self.pair] = asyncio.run(run_pair(*self.pair, basetemp(self.config) / "webrtc-interop"))
        return runs[self.pair]

    def runtest(self) -> None:
        from ..nat.netns import cannot_build_namespaces
        from ..peer.stacks import STACKS

        reason = cannot_build_namespaces()
        if reason is not None:  # the browsers would reach out: the matrix runs contained or not at all
            pytest.skip(f"the interop matrix seals every stack in a namespace: {reason}")
        caller, callee = self.pair
        (cell,) = [c for c in self._cells() if c.case == self.case]
        self.user_properties += [("webrtc.interop.outcome", cell.outcome), ("webrtc.interop.reason", cell.reason)]
        if cell.pcap:
            self.user_properties.append(("webrtc.interop.pcap", cell.pcap))
        if cell.outcome == "unavailable":  # a stack that cannot run on this machine: no verdict either way
            pytest.skip(f"{caller} -> {callee}: {cell.reason}")
        if cell.outcome == "unsupported":  # only what a stack really cannot do
            assert self.case == "video" and not STACKS[caller].sends_video, cell
            return
        rule = self.expected.removeprefix("rule:") if self.expected and self.expected.startswith("rule:") else None
        if cell.outcome == "fail" and self.expected is not None and cell.rule != rule:
            wanted = f"on {rule}" if rule else f"with no wire rule broken ({self.expected})"
            raise AssertionError(f"expected to fail {wanted}, failed otherwise: {cell.reason} (pcap {cell.pcap})")
        if cell.outcome == "fail":
            raise CellFailed(
                f"{caller} -> {callee} {self.case}: {cell.reason} (pcap {cell.pcap}, ladder {cell.ladder})"
            )
        assert cell.outcome == "pass" and cell.violations == 0, cell

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"interop: {self.pair[0]} calls {self.pair[1]}, {self.case}"
