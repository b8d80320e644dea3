package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"
)

// reserved are the keys every line already has: an hclog argument by one
// of these names (Raft logs "node") is renamed, prefixed with the logger's
// name, so that it cannot hide the agent's own.
var reserved = map[string]bool{
	slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true,
	"node": true, "logger": true,
}

// HCLog returns an hclog.Logger that writes to l's handler: its name
// (Named, ResetNamed) becomes the attribute logger=NAME (names nest with
// dots, as in hclog), With's pairs become attributes, and its levels map
// to slog's (trace to LevelTrace). SetLevel changes level, which the
// handler of l is expected to read (a *slog.LevelVar given to New); nil
// makes SetLevel a no-op and GetLevel ask the handler.
func HCLog(l *slog.Logger, level *slog.LevelVar) hclog.Logger {
	return &hcLogger{h: l.Handler(), level: level}
}

type hcLogger struct {
	h     slog.Handler
	level *slog.LevelVar
	name  string
	args  []any // With's, as given (for ImpliedArgs)
}

var _ hclog.Logger = (*hcLogger)(nil)

// toSlog maps an hclog level.
func toSlog(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// toHCLog maps a slog level.
func toHCLog(l slog.Level) hclog.Level {
	switch {
	case l <= LevelTrace:
		return hclog.Trace
	case l <= slog.LevelDebug:
		return hclog.Debug
	case l <= slog.LevelInfo:
		return hclog.Info
	case l <= slog.LevelWarn:
		return hclog.Warn
	}
	return hclog.Error
}

// attrs turns hclog's alternating keys and values into attributes.
func (g *hcLogger) attrs(args []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(args)/2+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if reserved[key] {
			prefix := g.name
			if prefix == "" {
				prefix = "arg"
			}
			key = prefix + "." + key
		}
		out = append(out, slog.Any(key, value(args[i+1])))
	}
	return out
}

func (g *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level == hclog.NoLevel {
		return
	}
	l := toSlog(level)
	ctx := context.Background()
	if !g.h.Enabled(ctx, l) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:])
	r := slog.NewRecord(time.Now(), l, msg, pcs[0])
	if g.name != "" {
		r.AddAttrs(slog.String("logger", g.name))
	}
	r.AddAttrs(g.attrs(args)...)
	_ = g.h.Handle(ctx, r)
}

func (g *hcLogger) Trace(msg string, args ...any) { g.Log(hclog.Trace, msg, args...) }
func (g *hcLogger) Debug(msg string, args ...any) { g.Log(hclog.Debug, msg, args...) }
func (g *hcLogger) Info(msg string, args ...any)  { g.Log(hclog.Info, msg, args...) }
func (g *hcLogger) Warn(msg string, args ...any)  { g.Log(hclog.Warn, msg, args...) }
func (g *hcLogger) Error(msg string, args ...any) { g.Log(hclog.Error, msg, args...) }

func (g *hcLogger) enabled(l hclog.Level) bool {
	return g.h.Enabled(context.Background(), toSlog(l))
}

func (g *hcLogger) IsTrace() bool { return g.enabled(hclog.Trace) }
func (g *hcLogger) IsDebug() bool { return g.enabled(hclog.Debug) }
func (g *hcLogger) IsInfo() bool  { return g.enabled(hclog.Info) }
func (g *hcLogger) IsWarn() bool  { return g.enabled(hclog.Warn) }
func (g *hcLogger) IsError() bool { return g.enabled(hclog.Error) }

func (g *hcLogger) ImpliedArgs() []any { return g.args }

func (g *hcLogger) With(args ...any) hclog.Logger {
	c := *g
	c.args = append(append([]any{}, g.args...), args...)
	c.h = g.h.WithAttrs(g.attrs(args))
	return &c
}

func (g *hcLogger) Name() string { return g.name }

func (g *hcLogger) Named(name string) hclog.Logger {
	if g.name != "" {
		name = g.name + "." + name
	}
	return g.ResetNamed(name)
}

// ResetNamed names the logger; the name is added to each line as it is
// logged, so a renamed logger's lines carry one logger attribute.
func (g *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	return &c
}

func (g *hcLogger) SetLevel(level hclog.Level) {
	if g.level != nil && level != hclog.NoLevel {
		g.level.Set(toSlog(level))
	}
}

func (g *hcLogger) GetLevel() hclog.Level {
	if g.level != nil {
		return toHCLog(g.level.Level())
	}
	for _, l := range []slog.Level{LevelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if g.h.Enabled(context.Background(), l) {
			return toHCLog(l)
		}
	}
	return hclog.Error
}

func (g *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(g.StandardWriter(opts), "", 0)
}

// StandardWriter is a Writer (see NewWriter) for std-log lines: with
// opts.ForceLevel every line has that level, otherwise it is read from the
// line's "[LEVEL]" prefix (info when there is none).
func (g *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &Writer{h: g.h, name: g.name, def: slog.LevelInfo}
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		w.force, w.def = true, toSlog(opts.ForceLevel)
	}
	return w
}

// value renders what hclog would print with %v as a string (errors,
// Stringers such as Raft's, hclog.Fmt), so that JSON shows the same text
// rather than an empty object; other values are left to the handler.
func value(v any) (out any) {
	defer func() {
		if recover() != nil { // a nil pointer's String
			out = fmt.Sprintf("<%T>", v)
		}
	}()
	switch x := v.(type) {
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		f, _ := x[0].(string)
		return fmt.Sprintf(f, x[1:]...)
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	}
	return v
}
