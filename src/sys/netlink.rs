//! NETLINK_ROUTE adapter (being written).
