"""The live side: probes of a running node, node check and node prep."""
