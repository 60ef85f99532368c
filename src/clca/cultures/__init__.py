"""clca.cultures"""
