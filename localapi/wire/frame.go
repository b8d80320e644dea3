package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxFrameSize bounds one frame's body. A 1 MiB value plus its path and
// envelope fits with room to spare; a multi may carry several such values.
const MaxFrameSize = 4 << 20

// Frame errors. A peer that sends either is closed: its stream cannot be
// trusted to be in step any more.
var (
	ErrFrameTooLarge = errors.New("frame larger than the 4 MiB limit")
	ErrEmptyFrame    = errors.New("empty frame")
)

// ReadFrame reads one frame's body into buf (grown as needed) and returns
// it. The length is checked against max before anything is allocated.
func ReadFrame(r io.Reader, buf []byte, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// Marshal encodes v as the protocol does: integers in their smallest
// msgpack form, as msgpack libraries in other languages write them, so
// that every client produces the same bytes for the same message.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AppendFrame appends v, msgpack-encoded (see Marshal) and
// length-prefixed, to dst.
func AppendFrame(dst []byte, v any) ([]byte, error) {
	body, err := Marshal(v)
	if err != nil {
		return dst, err
	}
	if len(body) > MaxFrameSize {
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...), nil
}

// WriteFrame writes v as one frame.
func WriteFrame(w io.Writer, v any) error {
	b, err := AppendFrame(nil, v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
