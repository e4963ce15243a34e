"""defmo.evaluation"""
