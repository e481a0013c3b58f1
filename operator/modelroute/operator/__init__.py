"""The operator's wiring: kopf's watches and reconcilers, the webhook server and the runtime that holds
them, and local-mode registration. The top of the layers, under the command line only."""
