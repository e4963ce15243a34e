"""defmo.train"""
