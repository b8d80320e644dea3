package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LevelTrace is below slog.LevelDebug: hclog's trace level (Raft's most
// detailed lines).
const LevelTrace = slog.LevelDebug - 4

// Formats are the accepted values of the agent's --log-format.
var Formats = []string{"text", "json"}

// ParseLevel maps trace, debug, info, warn (or warning) and error, in any
// case, to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", s)
}

// CheckFormat reports whether format is text or json.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if format == f {
			return nil
		}
	}
	return fmt.Errorf("unknown log format %q (want text or json)", format)
}

// New returns a logger writing to w in format (text or json) that drops
// lines below level. Trace lines show as level TRACE.
func New(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	if err := CheckFormat(format); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.LevelKey {
			if l, ok := a.Value.Any().(slog.Level); ok && l <= LevelTrace {
				a.Value = slog.StringValue("TRACE")
			}
		}
		return a
	}}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
