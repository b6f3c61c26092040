"""HTML to PDF through headless Chromium's own print engine (`--print-to-pdf`).

The page is written to a private temporary folder and printed with a throwaway profile, no
network and no header or footer; a missing browser or a failed print is a clear error.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sql.errors import AuditLensError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
PRINT_TIMEOUT_S = 180


class PdfPrintError(AuditLensError):
    """Chromium could not be found or could not print the page."""


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise PdfPrintError("format pdf needs Chromium (/usr/bin/chromium); none was found")


def html_to_pdf(html: str) -> bytes:
    """The PDF Chromium prints for `html` (a complete document)."""
    browser = chromium_path()
    with tempfile.TemporaryDirectory(prefix="auditlens-pdf-") as folder:
        page = Path(folder) / "pack.html"
        out = Path(folder) / "pack.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # containers run as root, where the sandbox refuses to start
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--proxy-server=127.0.0.1:9",  # the page loads nothing; make sure of it
            f"--user-data-dir={folder}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=PRINT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise PdfPrintError(f"Chromium did not print within {PRINT_TIMEOUT_S} s") from None
        data = out.read_bytes() if out.exists() else b""
        if done.returncode != 0 or not data.startswith(b"%PDF"):
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise PdfPrintError(f"Chromium could not print the pack: {tail[0]}")
        return data
