"""Real NATs for the harness: network namespaces, veth links and nftables rules (issue 5)."""
