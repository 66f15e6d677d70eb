"""cli/memory.py: glibc's malloc is asked, once, to keep freed memory for reuse; never when
the user tunes malloc, and never off glibc."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from attncli.cli import memory

CHECK = textwrap.dedent("""
    import sys
    from attncli.cli import memory
    print(memory.keep_freed_memory(), memory.keep_freed_memory())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_asked_once_in_a_fresh_process() -> None:
    env = {k: v for k, v in os.environ.items() if k not in memory.USER_SETTINGS}
    got = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0, got.stderr
    first, second = got.stdout.split()
    assert second == "False"  # once per process
    try:
        glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        glibc = False
    assert first == ("True" if glibc else "False")


def test_the_users_own_malloc_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_done", False)
    for name in memory.USER_SETTINGS:
        assert memory.keep_freed_memory({name: "1"}) is False
    assert memory._done is False  # not spent: nothing was asked


def test_only_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_done", False)
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.keep_freed_memory({}) is False
