"""The region-replica example: a package, so its ``app`` module does not clash with the
other examples' ``app`` modules when pytest collects them."""
