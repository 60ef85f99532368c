"""clca.llm"""
