"""`GET /docs`: the README as a web page, the descriptor's `links.documentation`.

One text serves both readers: the README in the repository and the page Jira links to from
*Manage apps*. It is rendered with markdown-it-py (CommonMark, the reference parser's rules,
with GitHub's tables), a well-kept library, rather than by hand; raw HTML in the text is
escaped, not passed through. The README is read next to the package (the app runs from its
repository), or else from the installed package's metadata, whose long description it is.
"""

from __future__ import annotations

import html
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from markdown_it import MarkdownIt
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

README = Path(__file__).resolve().parents[1] / "README.md"
DISTRIBUTION = "mail-connector"

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#172b4d}code,pre{background:#f4f5f7;border-radius:3px}"
    "pre{padding:.75rem;overflow-x:auto}table{border-collapse:collapse}"
    "th,td{border:1px solid #dfe1e6;padding:.25rem .5rem;text-align:left;vertical-align:top}"
)


def readme_text() -> str | None:
    try:
        return README.read_text(encoding="utf-8")
    except OSError:
        pass
    try:
        description = metadata.metadata(DISTRIBUTION).json.get("description")
    except metadata.PackageNotFoundError:
        return None
    return description if isinstance(description, str) and description else None


@lru_cache(maxsize=1)
def docs_html() -> str | None:
    text = readme_text()
    if text is None:
        return None
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    first = text.lstrip().splitlines()[0] if text.strip() else "Mail Connector for Jira"
    title = html.escape(first.lstrip("# ").strip())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


async def docs(_request: Request) -> Response:
    page = docs_html()
    if page is None:
        return PlainTextResponse("The documentation is not installed with this app.", 404)
    return HTMLResponse(page)
