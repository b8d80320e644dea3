package readme

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Block is one fenced code block of a Markdown file.
type Block struct {
	File string // as given to Parse
	Line int    // of the opening fence, from 1
	Lang string // the info string's first word, lower case ("" for none)
	Info string // the rest of the info string, trimmed
	Body string // the lines between the fences, with the fence's indentation removed
	// NotTested is the reason given by a <!-- not-tested: REASON -->
	// comment on the last non-blank line before the block ("" if none).
	NotTested string
}

// Kinds of block, by what the test does with them.
const (
	KindShell    = "shell"    // sh, bash, shell, console: run unless marked
	KindProgram  = "program"  // python or ts with the info "run": run unless marked
	KindFragment = "fragment" // other python, ts, go: parts of programs, not run
	KindText     = "text"     // anything else: output, config files, protocol traces
)

// Kind says what the test does with the block.
func (b Block) Kind() string {
	switch b.Lang {
	case "sh", "bash", "shell", "console":
		return KindShell
	case "python", "py", "ts", "typescript", "js", "javascript", "go":
		if b.Info == "run" && b.Lang != "go" {
			return KindProgram
		}
		return KindFragment
	}
	return KindText
}

// Script is the shell code of a shell block: for a console block, the
// commands after a "$ " prompt (with their "> " continuation lines);
// otherwise the body as it is.
func (b Block) Script() string {
	if b.Lang != "console" {
		return b.Body
	}
	var out []string
	cont := false
	for _, l := range strings.Split(b.Body, "\n") {
		switch {
		case strings.HasPrefix(l, "$ "):
			out = append(out, strings.TrimPrefix(l, "$ "))
			cont = strings.HasSuffix(l, "\\")
		case cont && strings.HasPrefix(l, "> "):
			out = append(out, strings.TrimPrefix(l, "> "))
			cont = strings.HasSuffix(l, "\\")
		default:
			cont = false
		}
	}
	return strings.Join(out, "\n")
}

var (
	fenceRe     = regexp.MustCompile("^( *)(```+)\\s*([^`]*)$")
	notTestedRe = regexp.MustCompile(`^\s*<!--\s*not-tested:\s*(.*?)\s*-->\s*$`)
	anyMarkerRe = regexp.MustCompile(`<!--\s*not-tested`)
)

// Parse returns the fenced blocks of a Markdown file. It refuses a block
// that is never closed, a not-tested comment without a reason, and one
// that is not followed by a block (a marker that marks nothing).
func Parse(file string, md []byte) ([]Block, error) {
	var blocks []Block
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		in       *Block
		fence    string
		indent   int
		body     []string
		marker   string // the reason of a marker waiting for its block
		markerAt int
		n        int
	)
	for sc.Scan() {
		n++
		line := sc.Text()
		if in != nil {
			if m := fenceRe.FindStringSubmatch(line); m != nil && len(m[2]) >= len(fence) && strings.TrimSpace(m[3]) == "" {
				in.Body = strings.Join(body, "\n")
				blocks = append(blocks, *in)
				in, body = nil, nil
				continue
			}
			if len(line) >= indent && strings.TrimSpace(line[:indent]) == "" {
				line = line[indent:]
			} else {
				line = strings.TrimLeft(line, " ")
			}
			body = append(body, line)
			continue
		}
		if m := fenceRe.FindStringSubmatch(line); m != nil {
			info := strings.Fields(m[3])
			b := &Block{File: file, Line: n, NotTested: marker}
			if len(info) > 0 {
				b.Lang = strings.ToLower(info[0])
				b.Info = strings.Join(info[1:], " ")
			}
			in, fence, indent, marker = b, m[2], len(m[1]), ""
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if marker != "" {
			return nil, fmt.Errorf("%s:%d: a not-tested comment is not followed by a code block", file, markerAt)
		}
		if m := notTestedRe.FindStringSubmatch(line); m != nil {
			if m[1] == "" {
				return nil, fmt.Errorf("%s:%d: a not-tested comment must give its reason: <!-- not-tested: REASON -->", file, n)
			}
			marker, markerAt = m[1], n
		} else if anyMarkerRe.MatchString(line) {
			return nil, fmt.Errorf("%s:%d: malformed marker %q: write <!-- not-tested: REASON --> on a line of its own, right before the block", file, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if in != nil {
		return nil, fmt.Errorf("%s:%d: the code block is never closed", file, in.Line)
	}
	if marker != "" {
		return nil, fmt.Errorf("%s:%d: a not-tested comment is not followed by a code block", file, markerAt)
	}
	return blocks, nil
}
