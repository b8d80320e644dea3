package wire

import (
	"errors"
	"fmt"
)

// maxDepth bounds how deeply a request's values may nest. A request needs
// three levels (the request, a multi's ops, one op); unknown fields may
// nest a little deeper, never much.
const maxDepth = 32

var errTruncated = errors.New("a length runs past the end of the frame")

// scan walks the first msgpack value in b without decoding it and checks
// that every length it claims fits in the bytes that follow, and that it
// nests at most maxDepth deep. The msgpack decoder trusts lengths (it makes
// a bin's claimed length up front, so a 20-byte frame could cost 4 GiB) and
// recurses once per level (a 4 MiB frame of nested arrays grows its stack
// to 512 MiB); scanning first keeps both to the size of the frame.
func scan(b []byte) error {
	left := make([]uint64, 1, 8) // values still to read at each open level
	left[0] = 1
	i := uint64(0)
	n := uint64(len(b))
	// read returns the next size bytes as a big-endian length.
	read := func(size uint64) (uint64, error) {
		if n-i < size {
			return 0, errTruncated
		}
		var v uint64
		for _, c := range b[i : i+size] {
			v = v<<8 | uint64(c)
		}
		i += size
		return v, nil
	}
	for len(left) > 0 {
		top := len(left) - 1
		if left[top] == 0 {
			left = left[:top]
			continue
		}
		left[top]--
		if i == n {
			return errTruncated
		}
		c := b[i]
		i++
		var skip, items, l uint64 // payload bytes; nested values
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c <= 0x8f: // fixmap
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			items = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		case c == 0xc0, c == 0xc2, c == 0xc3: // nil, false, true
		case c == 0xc1:
			return fmt.Errorf("invalid msgpack code 0x%x", c)
		case c == 0xc4, c == 0xd9: // bin 8, str 8
			skip, err = read(1)
		case c == 0xc5, c == 0xda: // bin 16, str 16
			skip, err = read(2)
		case c == 0xc6, c == 0xdb: // bin 32, str 32
			skip, err = read(4)
		case c == 0xc7: // ext 8: length, type, data
			l, err = read(1)
			skip = l + 1
		case c == 0xc8: // ext 16
			l, err = read(2)
			skip = l + 1
		case c == 0xc9: // ext 32
			l, err = read(4)
			skip = l + 1
		case c == 0xca: // float 32
			skip = 4
		case c == 0xcb: // float 64
			skip = 8
		case c >= 0xcc && c <= 0xd3: // uint 8..64, int 8..64
			skip = 1 << ((c - 0xcc) & 3)
		case c >= 0xd4 && c <= 0xd8: // fixext 1..16: type, data
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc: // array 16
			items, err = read(2)
		case c == 0xdd: // array 32
			items, err = read(4)
		case c == 0xde: // map 16
			l, err = read(2)
			items = 2 * l
		case c == 0xdf: // map 32
			l, err = read(4)
			items = 2 * l
		}
		if err != nil {
			return err
		}
		if n-i < skip {
			return errTruncated
		}
		i += skip
		if items > 0 {
			if n-i < items { // every value takes at least a byte
				return errTruncated
			}
			if len(left) > maxDepth {
				return fmt.Errorf("values nested more than %d deep", maxDepth)
			}
			left = append(left, items)
		}
	}
	return nil
}
