package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/warden-dev/warden/fsm"
)

// How `warden create` and `warden set` take a node's value (docs/cli.md,
// "Reading and writing nodes"):
//
//	DATA      the argument itself
//	-         standard input, to its end
//	@FILE     the file's contents
//	@@TEXT    the literal value @TEXT (one @ removed)
//	(none)    standard input when it is a pipe, a socket or a file;
//	          otherwise (a terminal, /dev/null) empty for create, an
//	          error for set
//
// DATA, @FILE or @@TEXT given while standard input already holds bytes
// (a redirected file with something left to read, a pipe with bytes
// waiting) is refused: one of the two would be dropped without a word.

// maxValue is the most a node holds (protocol v1: 1 MiB); a longer value
// is refused before it is sent, and no more than one byte past it is read.
const maxValue = fsm.MaxDataSize

// valueSource says where a value came from, for error messages.
type valueSource string

// nodeValue returns the value a verb's DATA argument (has reports whether
// one was given) stands for, reading standard input or a file as it says.
// emptyOK: with no DATA and nothing piped or redirected in, the value is
// empty (create); otherwise that is a usage error (set), so that a
// forgotten argument cannot empty a node.
func nodeValue(arg string, has, emptyOK bool) ([]byte, error) {
	stdin := os.Stdin
	switch {
	case !has && !isStream(stdin):
		if emptyOK {
			return nil, nil
		}
		return nil, usagef("missing DATA: give it as an argument, as - (standard input) or @FILE, or pipe it in ('' for an empty value)")
	case !has, arg == "-":
		return readValue(stdin, "standard input")
	}
	if pending, err := hasPendingInput(stdin); err != nil {
		return nil, err
	} else if pending {
		return nil, inputf("both DATA and standard input hold a value: give DATA as - to store standard input, or leave standard input empty (for example </dev/null)")
	}
	switch {
	case strings.HasPrefix(arg, "@@"):
		return checkSize([]byte(arg[1:]), "DATA")
	case strings.HasPrefix(arg, "@"):
		name := arg[1:]
		if name == "" {
			return nil, inputf("@ needs a file name (@FILE); for a value starting with @, double it: @@")
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, inputf("reading the value: %v", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, inputf("reading the value: %s is a directory", name)
		}
		return readValue(f, valueSource(name))
	}
	return checkSize([]byte(arg), "DATA")
}

// readValue reads r to its end, refusing more than maxValue bytes.
func readValue(r io.Reader, src valueSource) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxValue+1))
	if err != nil {
		return nil, inputf("reading the value from %s: %v", src, err)
	}
	return checkSize(b, src)
}

func checkSize(b []byte, src valueSource) ([]byte, error) {
	if len(b) > maxValue {
		return nil, inputf("the value from %s is over %d bytes (1 MiB), the most a node holds", src, maxValue)
	}
	return b, nil
}

// tooLarge rewords the agent's too_large refusal of a value of n bytes.
func tooLarge(err error, n int) error {
	return fmt.Errorf("the value (%d bytes) is over the agent's limit: %w", n, err)
}

// isStream reports whether f is something a value can be piped or
// redirected in through: a pipe, a socket or a regular file (not a
// terminal or another device, such as /dev/null).
func isStream(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	m := fi.Mode()
	return m.IsRegular() || m&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// hasPendingInput reports whether f holds bytes that reading it now would
// return at once: a regular file not read to its end, or a pipe or socket
// with bytes waiting. Bytes a writer puts into a pipe later cannot be
// seen without waiting for them, so they are not.
func hasPendingInput(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, nil // closed or unusable: nothing to read
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return false, inputf("standard input: %v", err)
		}
		return fi.Size() > off, nil
	case m&(os.ModeNamedPipe|os.ModeSocket) != 0:
		var n int32
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			return false, inputf("standard input: %v", errors.New(errno.Error()))
		}
		return n > 0, nil
	}
	return false, nil
}
