package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Writer turns std-log lines (Serf's, memberlist's, net/http's) into
// records of a slog.Handler. A line's level comes from its "[LEVEL]" tag
// (TRACE, DEBUG, INFO, WARN or WARNING, ERR or ERROR), which may follow a
// timestamp; a "name: " right after the tag (as in "[INFO] serf: ...")
// becomes the attribute logger=name. Lines may arrive in pieces: a Write
// without a final newline is kept until the rest comes.
type Writer struct {
	h     slog.Handler
	name  string     // logger attribute for lines that name none
	def   slog.Level // level of lines without a tag (or of every line, with force)
	force bool

	mu      sync.Mutex
	partial []byte
}

// NewWriter returns a Writer into l's handler; lines without a level tag
// are logged at def.
func NewWriter(l *slog.Logger, def slog.Level) *Writer {
	return &Writer{h: l.Handler(), def: def}
}

var tags = map[string]slog.Level{
	"TRACE": LevelTrace, "DEBUG": slog.LevelDebug, "INFO": slog.LevelInfo,
	"WARN": slog.LevelWarn, "WARNING": slog.LevelWarn, "ERR": slog.LevelError, "ERROR": slog.LevelError,
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.partial, p...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(buf[:i]))
		buf = buf[i+1:]
	}
	w.partial = append(w.partial[:0], buf...)
	return len(p), nil
}

// line logs one line.
func (w *Writer) line(s string) {
	s = strings.TrimRight(s, "\r ")
	if s == "" {
		return
	}
	level, msg, name := w.def, s, w.name
	if open := strings.IndexByte(s, '['); open >= 0 && open < 40 {
		if end := strings.IndexByte(s[open:], ']'); end > 0 {
			if l, ok := tags[s[open+1:open+end]]; ok {
				if !w.force {
					level = l
				}
				msg = strings.TrimSpace(s[open+end+1:])
			}
		}
	}
	// "serf: EventMemberJoin: ..." names its library.
	if colon := strings.Index(msg, ": "); colon > 0 && colon < 24 && !strings.ContainsAny(msg[:colon], " \t") {
		name, msg = msg[:colon], msg[colon+2:]
	}
	ctx := context.Background()
	if !w.h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	if name != "" {
		r.AddAttrs(slog.String("logger", name))
	}
	_ = w.h.Handle(ctx, r)
}
