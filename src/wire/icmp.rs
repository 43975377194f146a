//! ICMP echo wire format (being written).
