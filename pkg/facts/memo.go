package facts

import (
	"context"
	"sync"

	"github.com/canarygate/canarygate/pkg/kserve"
)

// Memo is a Reader that answers each InferenceService lookup once and
// passes every other lookup to Reader. The webhook wraps its reader in one
// Memo per request: the gate reads InferenceServices live, and one decision
// asks for the same one several times (as a target, for the stamps it
// expects, as the injection source) — one read each spares the API server,
// and the whole decision sees one version of each object. A Memo is for one
// request; its lookups may run concurrently (the gate reads its targets in
// parallel).
type Memo struct {
	Reader
	mu    sync.Mutex
	isvcs map[Ref]*memoISVC
}

// memoISVC is one lookup: the first caller reads, later ones wait for it.
type memoISVC struct {
	once sync.Once
	isvc *kserve.InferenceService
	err  error
}

// NewMemo returns a Memo over r.
func NewMemo(r Reader) *Memo { return &Memo{Reader: r} }

// InferenceService implements Reader. Errors are remembered as well: a
// lookup that failed (a timeout, say) is not retried within the decision,
// which already records it and denies where it matters.
func (m *Memo) InferenceService(ctx context.Context, namespace, name string) (*kserve.InferenceService, error) {
	ref := Ref{Namespace: namespace, Name: name}
	m.mu.Lock()
	if m.isvcs == nil {
		m.isvcs = map[Ref]*memoISVC{}
	}
	got, ok := m.isvcs[ref]
	if !ok {
		got = &memoISVC{}
		m.isvcs[ref] = got
	}
	m.mu.Unlock()
	got.once.Do(func() { got.isvc, got.err = m.Reader.InferenceService(ctx, namespace, name) })
	return got.isvc, got.err
}
