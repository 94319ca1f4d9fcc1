"""Emulations: what a legacy request needs that no single upstream request does. Pure.

`commands` says what an emulation yields and returns; the other modules hold the emulations,
by subject, each registered (`@emulation`) under the name a change file gives as `emulate`.
"""
