//! Raw ICMP probe sockets (being written).
