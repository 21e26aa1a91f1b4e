"""Records rendered for people: Markdown as HTML (the web pages and the PDF export) and the
archival PDF dossier of ``qms export``. Imports ``qms.store.frontmatter`` and the domain
only; markdown-it, Jinja2 and WeasyPrint load when something is rendered."""
