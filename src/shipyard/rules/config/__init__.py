"""The custom-image rules that the config files alone decide: ``Rule[ConfigSet]``s.

Each rule names the config files it needs; a rule whose files are missing, did not load or
have errors is skipped (and listed as such), never failed. Each problem is one result at its
file, line and key path. ``rules.registry.CONFIG_RULES`` lists them in order.
"""
