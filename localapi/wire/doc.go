// Package wire is the one definition of Warden's local protocol, spoken
// between an application and its agent over a Unix socket: the frame
// format, request and reply shapes, op names and error codes.
//
// A frame is a 4-byte big-endian length followed by that many bytes of one
// msgpack map. docs/protocol.md specifies the protocol for other languages;
// testdata/ holds golden frames every client replays.
package wire
