"""defmo.profiling"""
