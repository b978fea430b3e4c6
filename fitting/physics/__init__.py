"""Numpy-only leaf of the project's physics: detector constants, formulas and source tables.

No imports here (each module is imported by name), so that the modules of this package can be
written on several branches and merged without conflicts.  Nothing in this package imports
scipy, the database or the mock detector.
"""
