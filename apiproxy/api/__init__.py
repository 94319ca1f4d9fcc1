"""Docker API facts: versions, routes, schemas, upstream daemons, error styles, ids, policies. Pure.

What is true of the Docker API whatever apiproxy does with it; imports only wire/.
"""
