"""clca.judge"""
