"""tinygrad"""
