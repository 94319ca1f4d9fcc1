"""Build bodies of API 1.1/1.2: a multipart upload repacked, as it arrives, as the tar today's daemons read."""
