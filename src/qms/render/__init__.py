"""Records rendered for people: Markdown as HTML (the web pages) and the archival PDF/A-3b
dossier of ``qms export``, typeset by Typst from the Markdown token tree passed as data.
Imports ``qms.store.frontmatter`` and the domain only; markdown-it, Jinja2 and Typst load
when something is rendered (Typst only in the bounded worker process, ``render.typeset``)."""
