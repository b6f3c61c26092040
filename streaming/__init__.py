"""SIEM streaming: formats (native JSON, OCSF, CEF), destinations, durable cursors."""
