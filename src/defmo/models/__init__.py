"""defmo.models"""
