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
	enc := getEncoder(&buf)
	defer msgpack.PutEncoder(enc)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// getEncoder returns a pooled encoder that writes to w as Marshal does.
// Return it with msgpack.PutEncoder.
func getEncoder(w io.Writer) *msgpack.Encoder {
	enc := msgpack.GetEncoder()
	enc.Reset(w)
	enc.UseCompactInts(true)
	return enc
}

// AppendFrame appends v, msgpack-encoded (see Marshal) and
// length-prefixed, to dst.
func AppendFrame(dst []byte, v any) ([]byte, error) {
	return appendFrame(dst, func(enc *msgpack.Encoder) error { return enc.Encode(v) })
}

// AppendReply appends the frame of the reply to request id that carries
// result: the bytes AppendFrame appends for
// &Message{ID: id, Result: Marshal(result)}, encoded in one pass.
func AppendReply(dst []byte, id uint64, result any) ([]byte, error) {
	return appendFrame(dst, func(enc *msgpack.Encoder) error {
		if err := enc.EncodeMapLen(2); err != nil {
			return err
		}
		if err := enc.EncodeString("id"); err != nil {
			return err
		}
		if err := enc.EncodeUint(id); err != nil {
			return err
		}
		if err := enc.EncodeString("result"); err != nil {
			return err
		}
		return enc.Encode(result)
	})
}

// appendFrame appends the frame whose body encode writes, encoding in
// place after a length prefix it fills in last. On an error, dst is
// returned as it was.
func appendFrame(dst []byte, encode func(*msgpack.Encoder) error) ([]byte, error) {
	start := len(dst)
	if dst == nil {
		dst = make([]byte, 0, 512) // most messages fit: one grow at most
	}
	buf := bytes.NewBuffer(append(dst, 0, 0, 0, 0))
	enc := getEncoder(buf)
	defer msgpack.PutEncoder(enc)
	if err := encode(enc); err != nil {
		return dst, err
	}
	b := buf.Bytes()
	n := len(b) - start - 4
	if n > MaxFrameSize {
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
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
