"""clca.scenarios"""
