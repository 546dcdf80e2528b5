"""Progress of a long map(): tqdm when it is installed, else one status line on stderr."""
from __future__ import annotations

import importlib
import sys
import time
from typing import Any, Callable, Optional, Union

ProgressArg = Union[None, bool, Callable[[int, int, int], None]]


class Progress:
    def __init__(self, total: int, setting: ProgressArg, desc: str = "picluster") -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._callback: Optional[Callable[[int, int, int], None]] = setting if callable(setting) else None
        show = setting is True or (setting is None and total >= 10 and sys.stderr.isatty())
        self._bar: Any = None
        self._line = False
        self._t0 = time.monotonic()
        if show and self._callback is None:
            try:
                tqdm: Any = importlib.import_module("tqdm").tqdm  # optional: pip install tqdm

                self._bar = tqdm(total=total, desc=desc, unit="job")
            except ImportError:
                self._line = True
                self._print()

    def _print(self, end: str = "") -> None:
        elapsed = time.monotonic() - self._t0
        failed = " (%d failed)" % self.failed if self.failed else ""
        sys.stderr.write("\r[picluster] %d/%d jobs done%s, %.1f s%s" % (self.done, self.total, failed, elapsed, end))
        sys.stderr.flush()

    def update(self, ok: bool) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        if self._callback is not None:
            self._callback(self.done, self.total, self.failed)
        elif self._bar is not None:
            self._bar.update(1)
            if not ok:
                self._bar.set_postfix(failed=self.failed)
        elif self._line:
            self._print()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._line:
            self._print("\n")
