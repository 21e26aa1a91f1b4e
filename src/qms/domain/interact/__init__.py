"""Interactive authoring (``qms interact``): template language, source model, engine, compiler."""
