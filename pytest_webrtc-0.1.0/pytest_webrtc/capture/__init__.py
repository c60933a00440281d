"""Wire capture: sniffer (scapy + libpcap) <- packets (link/IP/UDP, RFC 7983 demux) <- verify (STUN/ICE rules)."""
