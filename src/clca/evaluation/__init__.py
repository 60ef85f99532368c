"""clca.evaluation"""
