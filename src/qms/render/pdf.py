"""HTML to PDF/A-3b with WeasyPrint: the dossier of ``qms export`` and the index of
``qms export --all``.

WeasyPrint is imported only here, when a PDF is made. It never fetches anything: the one
URL fetcher refuses every URL, so an image or link in a document's Markdown
(``![x](file:///home/.../secret.png)``, ``http://...``) is never read or embedded.
"""

from __future__ import annotations

from pathlib import Path

from qms.errors import ProjectError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HERE = Path(__file__).parent / "templates"
VARIANT = "pdf/a-3b"
_ENV: list[Any] = []


def utc(ts: str | None) -> str:
    """An ISO timestamp as ``2026-01-31 14:05:09 UTC``."""
    return str(ts or "–").replace("T", " ").replace("+00:00", " UTC")


def _env() -> Any:
    if not _ENV:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(default=True),
                          trim_blocks=True, lstrip_blocks=True)
        env.filters["utc"] = utc
        from markupsafe import Markup  # our own style sheet: inserted as it is

        env.globals["css"] = Markup((HERE / "export.css").read_text(encoding="utf-8"))
        _ENV.append(env)
    return _ENV[0]


def html(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def write(page: str, attachments: list[dict]) -> bytes:
    """``page`` (HTML; its <title> and author become the PDF's metadata) as PDF/A-3b bytes
    with ``attachments`` embedded: each ``{name, data: bytes, description, relationship}``
    (the PDF/A-3 AFRelationship: Source, Data, ...)."""
    weasyprint = _weasyprint()
    refuse = _no_fetch(weasyprint)
    document = weasyprint.HTML(string=page, url_fetcher=refuse, base_url=None).render()
    files = [weasyprint.Attachment(string=a["data"], name=a["name"],
                                   description=a["description"],
                                   relationship=a.get("relationship", "Data"),
                                   url_fetcher=refuse)
             for a in attachments]
    return document.write_pdf(pdf_variant=VARIANT, attachments=files)


def _no_fetch(weasyprint: Any) -> Any:
    """A URL fetcher that fetches nothing (an image shows its alt text instead)."""
    class NoFetch(weasyprint.URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"qms export fetches nothing ({url[:80]})")

    return NoFetch()


def _weasyprint() -> Any:
    import logging

    for name in ("weasyprint", "fontTools"):  # notes on unfetched images, fonts, layout:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # not the CLI's output
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise ProjectError(
            "PDF export needs WeasyPrint and its system libraries (Debian: libpango-1.0-0 "
            f"libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core; scripts/setup.sh): {exc}",
            missing="weasyprint") from None
    return weasyprint
