"""The named steps of the version-change files, by subject: code only for what a declaration cannot say.

Each is registered by its kind's decorator (registry.py) where it is defined.
"""
