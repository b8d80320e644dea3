// Package zkapi serves ZooKeeper's client protocol over the agent's
// Backend: existing ZooKeeper apps (3.6 to 3.9 clients, Curator, Kafka's
// and go-zookeeper's clients) connect to a Warden agent's TCP port as to
// a ZooKeeper server, and read and write the same znode tree, with the
// same sessions, as apps of the local API.
//
// The wire format is jute (zookeeper.jute); jute.go encodes it, proto.go
// holds the records and codes, server.go the listener and the protocol
// overview, conn.go a connection's session and request loop, ops.go and
// multi.go the operations, watches.go the watches, and fourletter.go the
// four-letter words (ruok, srvr, stat, mntr, isro, envi).
package zkapi
