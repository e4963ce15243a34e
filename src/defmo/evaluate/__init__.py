"""defmo.evaluate"""
