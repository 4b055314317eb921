"""A written answer as safe HTML: markdown, math as MathML, images; nothing that can act.

::

    to_html("The loss is $\\frac{1}{n}\\sum_i \\ell_i$. ![plot](data:image/png;base64,...)")

Markdown is rendered by markdown-it (CommonMark and tables), ``$...$`` and ``$$...$$`` by latex2mathml
into MathML, which the browser draws itself: no script, no font or stylesheet from a CDN, so a page
works offline. A student's text is untrusted: the HTML is then cleaned by nh3 (the Ammonia
sanitizer), which keeps only the tags and attributes listed here, links to http(s) addresses and
images embedded as data URLs, so a ``<script>``, an ``onerror=`` or a ``javascript:`` link is dropped.
"""
from __future__ import annotations

import re
from html import escape

import nh3
from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

_MATHML = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot", "msub",
           "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded",
           "mphantom", "menclose", "semantics", "annotation"}
_MATHML_ATTRIBUTES = {"display", "xmlns", "mathvariant", "stretchy", "fence", "separator", "accent",
                      "accentunder", "columnalign", "rowspacing", "columnspacing", "displaystyle",
                      "scriptlevel", "width", "lspace", "rspace", "linethickness", "notation", "encoding",
                      "minsize", "maxsize", "movablelimits", "form", "largeop", "symmetric"}
_TAGS = nh3.ALLOWED_TAGS | _MATHML
_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, **{tag: _MATHML_ATTRIBUTES for tag in _MATHML},
               "img": {"src", "alt", "title", "width", "height"}, "a": {"href", "title"}}
_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+")


def _math(latex: str, options: dict) -> str:
    try:
        return convert(latex, display="block" if options.get("display_mode") else "inline")
    except Exception:  # latex2mathml refuses what it cannot parse: show the source instead
        return f"<code>{escape(latex)}</code>"


_MARKDOWN = (MarkdownIt("commonmark", {"html": True}).enable("table")
             .use(dollarmath_plugin, double_inline=True, renderer=_math))


def _allowed(tag: str, attribute: str, value: str) -> str | None:
    """Keep an image only when it is embedded (no request leaves the page), a link only to http(s)."""
    if tag == "img" and attribute == "src":
        return value if _IMAGE.fullmatch(value) else None
    if tag == "a" and attribute == "href":
        return value if value.startswith(("https://", "http://", "#")) else None
    return value


def to_html(markdown: str) -> str:
    """A written answer (markdown with math) as sanitized HTML (see the module's docstring)."""
    return nh3.clean(_MARKDOWN.render(markdown), tags=_TAGS, attributes=_ATTRIBUTES,
                     url_schemes={"http", "https", "data"}, attribute_filter=_allowed)
