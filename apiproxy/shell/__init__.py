"""The Twisted shell: listeners, the client and upstream connections, the daemon, logs, the service.

The only layer that does I/O; everything it decides, it asks the pure layers below.
"""
