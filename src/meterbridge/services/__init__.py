"""Use cases: the only layer that composes the billing core, the ConnectWise client and the store."""
