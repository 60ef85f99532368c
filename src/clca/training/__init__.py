"""clca.training"""
