"""Attack tests: what a tenant member would try against another tenant, through the real CLI."""
