"""clca.intents"""
