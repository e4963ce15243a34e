"""defmo.ablate"""
