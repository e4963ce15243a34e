"""defmo.losses"""
