package zkapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Jute, ZooKeeper's serialization: big-endian int (4 bytes) and long (8),
// boolean as one byte, buffer and ustring as an int length (-1 for null)
// and the bytes, vector as an int count (-1 for null) and the items.
// Records are their fields in order, with nothing between them.

// errShort: a record ended before its fields did.
var errShort = errors.New("jute: record truncated")

// decoder reads jute from one frame. Every length it reads is checked
// against what is left of the frame before anything is allocated, so a
// length field cannot make it allocate more than the frame holds. The
// first error sticks; reads after it return zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func newDecoder(b []byte) *decoder { return &decoder{b: b} }

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(errShort)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) int() int32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

func (d *decoder) long() int64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

func (d *decoder) bool() bool {
	p := d.take(1)
	return p != nil && p[0] != 0
}

// buffer reads a buffer; null (-1) and empty both read as nil.
func (d *decoder) buffer() []byte {
	n := d.int()
	if d.err != nil || n == -1 {
		return nil
	}
	if n < -1 {
		d.fail(fmt.Errorf("jute: negative length %d", n))
		return nil
	}
	p := d.take(int(n))
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// string reads a ustring; null reads as "".
func (d *decoder) string() string {
	n := d.int()
	if d.err != nil || n == -1 {
		return ""
	}
	if n < -1 {
		d.fail(fmt.Errorf("jute: negative length %d", n))
		return ""
	}
	p := d.take(int(n))
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		d.fail(errors.New("jute: string is not UTF-8"))
		return ""
	}
	return string(p)
}

// count reads a vector's count, each item taking at least min bytes.
func (d *decoder) count(min int) int {
	n := d.int()
	if d.err != nil || n == -1 {
		return 0
	}
	if n < -1 || int64(n)*int64(min) > int64(len(d.b)-d.off) {
		d.fail(fmt.Errorf("jute: vector of %d items does not fit the frame", n))
		return 0
	}
	return int(n)
}

func (d *decoder) strings() []string {
	n := d.count(4)
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.string())
	}
	return out
}

// encoder appends jute to a buffer.
type encoder struct{ b []byte }

func (e *encoder) int(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }

func (e *encoder) long(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// buffer writes b; nil goes out as empty (length 0), not null: see
// docs/zookeeper.md on empty data.
func (e *encoder) buffer(b []byte) {
	e.int(int32(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) string(s string) {
	e.int(int32(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strings(ss []string) {
	e.int(int32(len(ss)))
	for _, s := range ss {
		e.string(s)
	}
}

// readFrame reads one length-prefixed frame of at most max bytes into buf
// (grown as needed) and returns it.
func readFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	return readBody(r, buf, int32(binary.BigEndian.Uint32(hdr[:])), max)
}

// readBody reads a frame's body of length n (already read).
func readBody(r io.Reader, buf []byte, n int32, max int) ([]byte, error) {
	if n < 0 || int(n) > max {
		return nil, fmt.Errorf("frame length %d is outside [0, %d]", n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
