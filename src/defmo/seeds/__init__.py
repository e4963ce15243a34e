"""The seed study: each approach trained from several seeds, its spread, and paired differences against DeFMO."""
