"""Experiments: figure recipes (``recipes``), their cache (``cache``), parallel map (``parallel``) and runner
(``runner``), the recipes' library (``recipe_kit``), network settings, the report, plotting, demos."""
