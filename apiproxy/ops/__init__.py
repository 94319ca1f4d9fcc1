"""Operations: configuration, access log and metrics records, explain, the compatibility matrix. Pure.

What an operator reads and writes; imports translation/ and below, never Twisted.
"""
