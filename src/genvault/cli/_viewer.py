"""Opening an image outside the terminal: the desktop's viewer, or the browser.

`gen open` and `gen create --open` use it. The programs that open files
differ by platform; :func:`open_in_viewer` picks one and says what to do when
there is none (over ssh, in a container).
"""

import os
import sys

from genvault import GenvaultError

__all__ = ["open_in_viewer"]


def open_in_viewer(url: str) -> None:
    """Open ``url`` (file:// or https://) in the default image viewer or browser.

    $BROWSER wins when set (as Python's webbrowser module defines it); otherwise
    the desktop's opener (open, xdg-open, the Windows shell).
    """
    import shutil
    import subprocess
    import webbrowser
    from urllib.parse import unquote, urlsplit

    target = unquote(urlsplit(url).path) if url.startswith("file://") else url
    if os.environ.get("BROWSER"):
        if webbrowser.open(url):
            return
    elif sys.platform == "darwin":
        if subprocess.run(["open", target], check=False).returncode == 0:
            return
    elif sys.platform == "win32":
        os.startfile(target)  # type: ignore[attr-defined]  # noqa: S606  # Windows only
        return
    elif shutil.which("xdg-open") and (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        subprocess.Popen(
            ["xdg-open", target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return
    raise GenvaultError(
        "found no viewer to open the image with",
        hint=f"open {target} yourself, or set BROWSER to a program that opens files",
    )
