"""Code under change control (docs/code-control.md): systems, a CR's execution branch,
code areas, and the push gate that the repository's ``pre-receive`` hook runs."""
