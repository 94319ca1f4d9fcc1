"""How the daemons read a request's query values. Pure."""
from __future__ import annotations

# Go's strconv.ParseBool: the spellings of true the daemons (0.6.5 on) took for a flag such as
# `size` of a container list or `link` of a removal.
GO_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
