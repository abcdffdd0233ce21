"""The built-in hardware catalogue, as YAML data files beside this module."""
