"""Theory: the papers' bounds, the property battery, mean-field predictions and errata."""
