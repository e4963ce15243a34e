"""defmo.training"""
