"""Signed tickets: the codes a door scans (``codes``), the Ed25519 keys that sign them (``keys``) and the
service that issues and verifies them with a cached key ring (``issuer``).

Pure: no database, no HTTP. ``persistence.ticket_keys`` stores the keys, ``api.routes.tickets`` serves them.
"""
