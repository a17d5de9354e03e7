package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the logger's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestDecisionLogIsNotSampled: serve promises one log line per decision;
// a sampling logger would keep only every 100th after the first 100 lines
// of a message in a second.
func TestDecisionLogIsNotSampled(t *testing.T) {
	var buf lockedBuffer
	log := newLogger(false, &buf)
	const n = 1000
	for i := range n {
		log.Info("decision", "uid", i)
	}
	lines := strings.Split(strings.TrimSpace(buf.b.String()), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines for %d decisions, want one each", len(lines), n)
	}
	var first struct{ Level, TS, Msg string }
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Msg != "decision" || first.Level != "info" || first.TS == "" {
		t.Errorf("first line %q: %+v %v; want JSON with level, ts and msg", lines[0], first, err)
	}
}
