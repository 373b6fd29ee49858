"""The embedded demo sandbox: a seeded moto server, AWS-strictness fixes for moto, simulated log delivery."""
