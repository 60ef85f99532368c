"""clca.roleplay"""
