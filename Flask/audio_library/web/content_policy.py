"""Content-Security-Policy on every answer: the page may use only what it uses, and a file is never a page.

The page loads its own ES modules and stylesheets, shows covers and plays audio from this server, and talks
to its API with fetch and XMLHttpRequest: each from 'self' only, nothing inline, no plugins, no framing, no
<base>, forms posting here only. Its only other images are the stylesheet's icons, SVG written into it as
`data:` URLs (an SVG shown as an image runs no script).

Covers and downloads are files of the library, made by whoever uploaded them: `sandbox` lets no script,
form, plugin or pop-up run in a tab opened on one, so even a file a browser took for HTML could do nothing.
It keeps the file's origin (`allow-same-origin`), and sets no `default-src 'none'`, because a browser plays
an audio file opened in a tab by loading it again from its own document: Chromium refuses that load to a
document sandboxed into an origin of its own, and `default-src 'none'` refuses it too.

Every other answer (JSON, static files) may load nothing at all.
"""

from flask import Response, request


PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # and the stylesheet's icons, SVG written into it
        "media-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
FILE_POLICY = "sandbox allow-same-origin"
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
FILES_BLUEPRINT = "files"  # downloads and covers (web/downloads.py)


def set_content_security_policy(response: Response) -> Response:
    """Give the answer the policy for what it is: the page, a file of the library, or anything else."""
    if request.blueprint == FILES_BLUEPRINT:
        policy = FILE_POLICY
    elif response.mimetype == "text/html":
        policy = PAGE_POLICY
    else:
        policy = OTHER_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    return response
