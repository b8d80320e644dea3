package fsm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDataSize is the largest value a znode may hold (1 MiB, as in ZooKeeper).
const MaxDataSize = 1 << 20

// MaxPathLength bounds a path, so a path can never be the reason a frame or
// a log entry is too large.
const MaxPathLength = 4096

// ValidatePath checks ZooKeeper's path rules: absolute, '/'-separated, no
// empty segment, no "." or ".." segment, no trailing slash (except the root
// itself), no NUL and no control or reserved characters.
func ValidatePath(p string) error {
	return validatePath(p, false)
}

// validatePath is ValidatePath, with a trailing slash allowed when a
// sequential suffix will follow it.
func validatePath(p string, sequential bool) error {
	if p == "" {
		return badPath(p, "empty path")
	}
	if len(p) > MaxPathLength || (sequential && len(p)+10 > MaxPathLength) {
		return badPath(p[:32]+"...", fmt.Sprintf("longer than %d bytes, counting any sequence suffix", MaxPathLength))
	}
	if p[0] != '/' {
		return badPath(p, "must start with /")
	}
	if p == "/" {
		return nil
	}
	body := p[1:]
	if strings.HasSuffix(p, "/") {
		if !sequential {
			return badPath(p, "must not end with /")
		}
		body = body[:len(body)-1]
	}
	if !utf8.ValidString(p) {
		return badPath(p, "not valid UTF-8")
	}
	for _, seg := range strings.Split(body, "/") {
		switch seg {
		case "":
			return badPath(p, "empty segment")
		case ".", "..":
			return badPath(p, "relative segment "+seg)
		}
	}
	for _, r := range p {
		if forbiddenRune(r) {
			return badPath(p, fmt.Sprintf("invalid character %U", r))
		}
	}
	return nil
}

// forbiddenRune reports the characters ZooKeeper refuses in a path.
func forbiddenRune(r rune) bool {
	switch {
	case r == 0:
		return true
	case r > 0 && r <= 0x1f, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0 && r <= 0xffff:
		return true
	}
	return false
}

func badPath(p, why string) error {
	return &Error{Code: CodeBadArguments, Msg: fmt.Sprintf("invalid path %q: %s", p, why)}
}

// Parent returns the parent of a valid path: "/" for a top-level node, and
// for the root itself.
func Parent(p string) string {
	parent, _ := splitPath(p)
	return parent
}

// splitPath returns the parent and the last segment of a valid path other
// than the root. The parent of a top-level node is "/".
func splitPath(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// nodeKey is the radix-tree key of a path: its parent, a NUL, and its name.
// All children of one parent therefore share one prefix (childPrefix) and
// sort by name, so listing children never walks grandchildren. The root's
// key is empty.
func nodeKey(p string) []byte {
	if p == "/" {
		return []byte{}
	}
	parent, name := splitPath(p)
	if parent == "/" {
		parent = ""
	}
	k := make([]byte, 0, len(parent)+1+len(name))
	k = append(k, parent...)
	k = append(k, 0)
	return append(k, name...)
}

// childPrefix is the key prefix shared by every child of p.
func childPrefix(p string) []byte {
	if p == "/" {
		return []byte{0}
	}
	k := make([]byte, 0, len(p)+1)
	k = append(k, p...)
	return append(k, 0)
}

// keyPath turns a radix-tree key back into its path.
func keyPath(k []byte) string {
	if len(k) == 0 {
		return "/"
	}
	for i, b := range k {
		if b == 0 {
			if i == 0 {
				return "/" + string(k[1:])
			}
			return string(k[:i]) + "/" + string(k[i+1:])
		}
	}
	return string(k)
}
