"""Translation: the version chain a request climbs and its answer descends. Pure.

The exchange and its transforms, the version changes (schemas/changes) and the named steps
(steps/), emulations (emulations/), the multipart build body (build/), and routing; imports
only api/ and wire/.
"""
