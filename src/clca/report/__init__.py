"""clca.report"""
