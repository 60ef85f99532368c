"""clca.pipeline"""
