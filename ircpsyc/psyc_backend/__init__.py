"""PSYC packets, uniforms, the router, contexts and (later) server links."""
